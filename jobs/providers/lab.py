"""The providers that build machines on this host from the root image (nspawn,
libvirt): addresses from the lab network, on the project's private bridge."""

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.config import DataDir
from jobs.providers import Footprint, Provider, node_name


def host_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


def free_disk_gb(directory: Path) -> int:
    """Free space where the node's disks go (the nearest directory that exists)."""
    while not directory.exists():
        directory = directory.parent
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize // 1024**3


class LabProvider(Provider):
    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.settings["LAB_NETWORK"])

    @property
    def host_address(self) -> str:
        """The network's first address: this host's own, on the bridge."""
        return str(next(self.network.hosts()))

    def free_machines(self, used: set[str]) -> Iterator[tuple[str, str]]:
        for address in list(self.network.hosts())[1:]:  # not the host's own
            if str(address) not in used:
                yield node_name(), str(address)

    def exhausted(self) -> str:
        return f"no free address left in the lab network {self.network}"

    def machines(self) -> int:
        return len(list(self.network.hosts())) - 1

    def capacity_problem(self, committed: Footprint, asked: Footprint) -> str | None:
        """The pool, and this host's memory and free disk: the nodes run here."""
        problem = super().capacity_problem(committed, asked)
        if problem:
            return problem
        usable = int(
            (host_memory_mb() - self.settings["RESERVED_RAM"]) * self.settings["RAM_OVERCOMMIT"]
        )
        if asked.ram and committed.ram + asked.ram > usable:
            return (
                f"not enough memory on this host: {committed.ram} MB of {usable} MB are "
                f"promised to nodes and {asked.ram} MB more were asked for"
            )
        free = free_disk_gb(self.nodes_dir())
        if asked.disk and asked.disk > free * self.settings["DISK_OVERCOMMIT"]:
            return (
                f"not enough free disk for the data disks: {asked.disk} GB asked for, "
                f"{free} GB free under {self.nodes_dir()} (sparse disks may take "
                f"{self.settings['DISK_OVERCOMMIT']:g} times that)"
            )
        return None

    def nodes_dir(self) -> Path:
        return DataDir.of(self.settings).nodes

    def lab_variables(self, instance) -> dict[str, Any]:
        public_key = self.ssh_key().with_suffix(".pub")
        return {
            "network": str(self.network),
            "bridge": self.settings["LAB_BRIDGE"],
            "bridge_address": self.host_address,
            # This host as the nodes see it: allowed the internal roles and ports.
            "control_addresses": [self.host_address],
            "prefix": self.network.prefixlen,
            "nodes_dir": str(self.nodes_dir()),
            "ssh_public_key": public_key.read_text() if public_key.exists() else "",
        }
