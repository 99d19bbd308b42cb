"""Lab nodes as libvirt domains (virtual machines) booted from the root image's disk."""

import subprocess
from collections.abc import Callable
from typing import Any

from jobs.providers.lab import LabProvider


class Libvirt(LabProvider):
    name = "libvirt"

    def running_check(self) -> Callable[[str], bool] | None:
        running = running_domains(self.settings["LIBVIRT_URI"])
        return None if running is None else running.__contains__

    def lab_variables(self, instance) -> dict[str, Any]:
        return {**super().lab_variables(instance), "libvirt_uri": self.settings["LIBVIRT_URI"]}


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
