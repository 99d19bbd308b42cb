"""The providers that build machines on this host from the root image (nspawn,
libvirt): addresses from the lab network, on the project's private bridge."""

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.config import DataDir
from jobs.providers import Provider, node_name


class LabProvider(Provider):
    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.settings["LAB_NETWORK"])

    def free_machines(self, used: set[str]) -> Iterator[tuple[str, str]]:
        # The network's first address is the host's own, on the bridge.
        for address in list(self.network.hosts())[1:]:
            if str(address) not in used:
                yield node_name(), str(address)

    def exhausted(self) -> str:
        return f"no free address left in the lab network {self.network}"

    def nodes_dir(self) -> Path:
        return DataDir.of(self.settings).nodes

    def lab_variables(self, instance) -> dict[str, Any]:
        public_key = self.ssh_key().with_suffix(".pub")
        return {
            "network": str(self.network),
            "bridge": self.settings["LAB_BRIDGE"],
            "bridge_address": str(next(self.network.hosts())),
            "prefix": self.network.prefixlen,
            "nodes_dir": str(self.nodes_dir()),
            "ssh_public_key": public_key.read_text() if public_key.exists() else "",
        }
