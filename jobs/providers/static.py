"""Machines that exist already (bare metal, Vagrant VMs), listed in the YAML file
DBAAS_STATIC_HOSTS as [{name, address, user (root), ssh_key, data_device (/dev/vdb),
host_key}]; each holds one instance's node at a time. The file is read once."""

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from jobs.providers import PoolExhausted, Provider


class Static(Provider):
    name = "static"

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.hosts = {str(host["name"]): host for host in load_hosts(settings.get("STATIC_HOSTS"))}
        self.control_addresses = control_addresses(settings.get("CONTROL_ADDRESSES", ""))

    def free_machines(self, used: set[str]) -> Iterator[tuple[str, str]]:
        for name, host in self.hosts.items():
            if str(host["address"]) not in used:
                yield name, str(host["address"])

    def exhausted(self) -> str:
        return f"all {len(self.hosts)} static hosts are in use"

    def machines(self) -> int:
        return len(self.hosts)

    def connection(self, name: str) -> dict[str, Any]:
        host = self.hosts.get(name, {})
        user = host.get("user", "root")
        variables = {
            "ansible_user": user,
            "ansible_ssh_private_key_file": host.get("ssh_key", str(self.ssh_key())),
        }
        if user != "root":
            variables["ansible_become"] = True
        if "data_device" in host:
            variables["dbaas_data_device"] = host["data_device"]
        return variables

    def lab_variables(self, instance) -> dict[str, Any]:
        """The control host's addresses as the machines see it (DBAAS_CONTROL_ADDRESSES):
        allowed the internal roles and ports, SSH included."""
        return {"control_addresses": self.control_addresses}

    def uses_service_key(self) -> bool:
        return any("ssh_key" not in host for host in self.hosts.values())

    def host_key(self, name: str) -> str | None:
        key = self.hosts.get(name, {}).get("host_key")
        return key.strip() if key else None


def control_addresses(given: str) -> list[str]:
    """DBAAS_CONTROL_ADDRESSES, checked as IPv4 addresses: they reach pg_hba and the
    machines' filter."""
    try:
        return [str(ipaddress.IPv4Address(a.strip())) for a in given.split(",") if a.strip()]
    except ValueError as exc:
        raise PoolExhausted(f"DBAAS_CONTROL_ADDRESSES: {exc}") from None


def load_hosts(path: str | None) -> list[dict]:
    if not path:
        raise PoolExhausted("DBAAS_PROVIDER=static needs DBAAS_STATIC_HOSTS (a YAML file)")
    try:
        hosts = yaml.safe_load(Path(path).read_text()) or []
    except (OSError, yaml.YAMLError) as exc:
        raise PoolExhausted(f"cannot read the static hosts file {path}: {exc}") from None
    if not isinstance(hosts, list) or not all(
        isinstance(h, dict) and h.get("name") and h.get("address") for h in hosts
    ):
        raise PoolExhausted(f"{path} must list hosts as {{name, address}} mappings")
    return hosts


PROVIDER = Static
