"""Lab nodes as systemd-nspawn containers on this host (the default provider)."""

import contextlib
import os
import selectors
from collections.abc import Callable
from pathlib import Path

from core import nspawn_node
from jobs.providers import DATA_MOUNT, MachineWatch
from jobs.providers.lab import LabProvider


class Nspawn(LabProvider):
    name = "nspawn"

    def running_check(self) -> Callable[[str], bool]:
        # The node's recorded init (PID and start time) is the one authority.
        nodes_dir = self.nodes_dir()
        return lambda name: nspawn_node.node_init(nodes_dir / name) is not None

    def disk_usage(self, node) -> tuple[int, int] | None:
        # The node's mounts seen through its init's root: no login needed.
        init = nspawn_node.node_init(self.nodes_dir() / node.name)
        if init is None:
            return None
        try:
            stats = os.statvfs(f"/proc/{init}/root{DATA_MOUNT}")
        except OSError:
            return None
        size = stats.f_blocks * stats.f_frsize
        return size - stats.f_bfree * stats.f_frsize, size

    def machine_watch(self) -> "InitWatch":
        return InitWatch(self.nodes_dir())


class InitWatch(MachineWatch):
    """A pidfd on each node's init: it becomes readable when the init has exited, and
    the kernel ends a PID namespace's other processes before its init's exit completes:
    the node's PostgreSQL is gone by then. No polling; the incarnation is the recorded
    (PID, start time), so a node started again is watched anew."""

    def __init__(self, nodes_dir: Path) -> None:
        self.nodes_dir = nodes_dir
        self.selector = selectors.DefaultSelector()
        # name -> (incarnation, pidfd or None once reported)
        self.watched: dict[str, tuple[str, int | None]] = {}
        self.ready: list[str] = []

    def _incarnation(self, name: str) -> str:
        try:
            return (self.nodes_dir / name / "init.pid").read_text().strip()
        except OSError:
            return ""

    def watch(self, name: str) -> None:
        incarnation = self._incarnation(name)
        if name in self.watched and self.watched[name][0] == incarnation:
            return
        self.forget(name)
        pid = incarnation.split()[0] if incarnation else ""
        try:
            fd = os.pidfd_open(int(pid))
        except (ValueError, OSError):  # no init recorded, or it is gone already
            fd = None
        # Opened first, checked second: a PID reused meanwhile is not our init.
        if fd is not None and nspawn_node.node_init(self.nodes_dir / name) is None:
            os.close(fd)
            fd = None
        if fd is None:
            self.watched[name] = (incarnation, None)
            self.ready.append(name)
            return
        self.watched[name] = (incarnation, fd)
        self.selector.register(fd, selectors.EVENT_READ, name)

    def forget(self, name: str) -> None:
        _, fd = self.watched.pop(name, ("", None))
        if fd is not None:
            self.selector.unregister(fd)
            os.close(fd)
        with contextlib.suppress(ValueError):
            self.ready.remove(name)

    def gone(self, timeout: float) -> list[str]:
        if not self.ready:
            for key, _ in self.selector.select(timeout):
                name = key.data
                self.selector.unregister(key.fd)
                os.close(key.fd)
                self.watched[name] = (self.watched[name][0], None)
                self.ready.append(name)
        found, self.ready = self.ready, []
        return found

    def close(self) -> None:
        for name in list(self.watched):
            self.forget(name)
        self.selector.close()


PROVIDER = Nspawn
