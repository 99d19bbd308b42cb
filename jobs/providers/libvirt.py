"""Lab nodes as libvirt domains (virtual machines) booted from the root image's disk."""

import logging
import queue
import re
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from jobs.providers import MachineWatch
from jobs.providers.lab import LabProvider

log = logging.getLogger(__name__)


class Libvirt(LabProvider):
    name = "libvirt"

    def running_check(self) -> Callable[[str], bool] | None:
        running = running_domains(self.settings["LIBVIRT_URI"])
        return None if running is None else running.__contains__

    def machine_watch(self) -> "DomainEvents":
        return DomainEvents(self.settings["LIBVIRT_URI"])

    def lab_variables(self, instance) -> dict[str, Any]:
        return {**super().lab_variables(instance), "libvirt_uri": self.settings["LIBVIRT_URI"]}


# virsh's line for a lifecycle event: event 'lifecycle' for domain 'NAME': EVENT DETAIL
_LIFECYCLE = re.compile(r"event 'lifecycle' for domain '([^']+)': (\w+) (\w+)")
# The domain can no longer write: stopped (not migrated elsewhere) or crashed.
GONE = {
    ("Stopped", "Shutdown"),
    ("Stopped", "Destroyed"),
    ("Stopped", "Crashed"),
    ("Stopped", "Failed"),
    ("Crashed", "Panicked"),
}


def gone_domain(line: str) -> str | None:
    """The domain a virsh lifecycle event line reports gone, or None."""
    found = _LIFECYCLE.search(line)
    if found and (found[2], found[3]) in GONE:
        return found[1]
    return None


class DomainEvents(MachineWatch):
    """libvirt's lifecycle events, as `virsh event --loop` prints them (no polling, and
    no libvirt binding to build): a domain stopped or crashed is gone; migrated or
    paused is not."""

    def __init__(self, uri: str) -> None:
        self.watched: set[str] = set()
        self.events: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            ["virsh", "-c", uri, "event", "--all", "--loop", "--event", "lifecycle"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, name="libvirt-events", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            name = gone_domain(line)
            if name is not None:
                self.events.put(name)
        exit_code = self.process.wait()
        log.warning("virsh event stopped (exit %s): no fencing of libvirt domains", exit_code)

    def watch(self, name: str) -> None:
        self.watched.add(name)

    def forget(self, name: str) -> None:
        self.watched.discard(name)

    def gone(self, timeout: float) -> list[str]:
        found = []
        try:
            found.append(self.events.get(timeout=timeout))
            while True:
                found.append(self.events.get_nowait())
        except queue.Empty:
            pass
        return [name for name in dict.fromkeys(found) if name in self.watched]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def running_domains(uri: str) -> set[str] | None:
    """The names of the running libvirt domains, or None if libvirt cannot be asked
    (then nothing is judged stopped)."""
    try:
        listed = subprocess.run(
            ["virsh", "-c", uri, "list", "--state-running", "--name"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(listed.stdout.split()) if listed.returncode == 0 else None


PROVIDER = Libvirt
