"""Lab nodes as libvirt domains (virtual machines) booted from the root image's disk."""

import logging
import queue
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


# libvirt's lifecycle events (its stable ABI numbers): the domain can no longer write:
# stopped (shut down, destroyed, crashed, failed; not migrated elsewhere nor saved) or
# crashed (the guest panicked).
EVENT_STOPPED, EVENT_CRASHED = 5, 8
STOPPED_SHUTDOWN, STOPPED_DESTROYED, STOPPED_CRASHED, STOPPED_FAILED = 0, 1, 2, 5
CRASHED_PANICKED = 0
GONE = {
    (EVENT_STOPPED, STOPPED_SHUTDOWN),
    (EVENT_STOPPED, STOPPED_DESTROYED),
    (EVENT_STOPPED, STOPPED_CRASHED),
    (EVENT_STOPPED, STOPPED_FAILED),
    (EVENT_CRASHED, CRASHED_PANICKED),
}


def is_gone(event: int, detail: int) -> bool:
    return (event, detail) in GONE


_event_loop = threading.Lock()
_event_loop_running = [False]


def _run_event_loop(libvirt) -> None:
    """libvirt's default event loop, once per process (before any connection opens)."""
    with _event_loop:
        if _event_loop_running[0]:
            return
        libvirt.virEventRegisterDefaultImpl()
        _event_loop_running[0] = True

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()


class DomainEvents(MachineWatch):
    """libvirt's lifecycle events, through its own binding (the one community.libvirt
    needs; `make setup-libvirt` installs it): pushed by libvirtd, no polling. A domain
    stopped or crashed is gone; migrated, saved or paused is not."""

    def __init__(self, uri: str) -> None:
        import libvirt  # only where the libvirt provider runs

        self.watched: set[str] = set()
        self.events: queue.Queue[str] = queue.Queue()
        _run_event_loop(libvirt)
        self.connection = libvirt.openReadOnly(uri)
        self.connection.setKeepAlive(5, 3)  # a libvirtd gone away is noticed
        self.callback = self.connection.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None
        )

    def _lifecycle(self, _connection, domain, event: int, detail: int, _opaque) -> None:
        if is_gone(event, detail):
            self.events.put(domain.name())

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
        try:
            self.connection.domainEventDeregisterAny(self.callback)
            self.connection.close()
        except Exception:  # libvirtd gone already: nothing left to close
            log.info("libvirt connection already closed")


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
