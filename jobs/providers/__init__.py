"""Where an instance's machines come from: one module per provider, each a ``Provider``.

A provider places nodes (names and addresses), tells Ansible how to reach them, says
whether a node's machine runs, and adds its settings to the playbooks' ``dbaas_lab``.
Its machines are made and removed by the role ``node_<name>``. Adding a provider is a
module here and that role."""

import importlib
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from core.config import DataDir

# Not providers: the shared base of the providers that build lab machines.
_BASES = ("lab",)


def names() -> tuple[str, ...]:
    return tuple(
        sorted(
            module.name
            for module in pkgutil.iter_modules(__path__)
            if module.name not in _BASES and not module.name.startswith("_")
        )
    )


def load(settings: dict[str, Any]) -> "Provider":
    """The configured provider (DBAAS_PROVIDER), or ValueError naming the choices."""
    name = settings.get("PROVIDER", "nspawn")
    if name not in names():
        raise ValueError(f"DBAAS_PROVIDER={name!r}: not one of {', '.join(names())}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.PROVIDER(settings)


# Where every node mounts its data disk (the data_disk role).
DATA_MOUNT = "/var/lib/postgresql"


class PoolExhausted(Exception):
    pass


@dataclass(frozen=True)
class Footprint:
    """What instances take of a host: machines, and over them RAM (MB) and disk (GB)."""

    nodes: int = 0
    ram: int = 0
    disk: int = 0


def node_name() -> str:
    # 12 characters: nspawn names the host side of the veth "vb-<name>" (15 at most).
    return "pg" + uuid.uuid4().hex[:10]


class Provider:
    name: ClassVar[str]

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    # Placement.
    def free_machines(self, used: set[str]) -> Iterator[tuple[str, str]]:
        """Free (name, address) pairs, given the addresses in use."""
        raise NotImplementedError

    def exhausted(self) -> str:
        """Why no machine is left: shown as the operation's error."""
        raise NotImplementedError

    def machines(self) -> int:
        """How many machines the pool holds."""
        raise NotImplementedError

    def capacity_problem(self, committed: Footprint, asked: Footprint) -> str | None:
        """Why the host cannot hold `asked` on top of what is `committed`, or None.
        Asked at once by the API, so that a create it cannot hold fails in the request,
        not later in a playbook."""
        if asked.nodes and committed.nodes + asked.nodes > self.machines():
            return (
                f"{self.exhausted()}: {committed.nodes} of {self.machines()} machines are "
                f"taken and {asked.nodes} more were asked for"
            )
        return None

    # Reaching a node.
    def ssh_key(self) -> Path:
        """The service's key for logging in to nodes (made by `make setup`)."""
        return DataDir.of(self.settings).ssh_key

    def connection(self, name: str) -> dict[str, Any]:
        """How Ansible logs in to the node: user and key; become when not root."""
        return {"ansible_user": "root", "ansible_ssh_private_key_file": str(self.ssh_key())}

    def host_key(self, name: str) -> str | None:
        """The node's SSH host key when known beforehand; else the first one seen is kept."""
        return None

    def uses_service_key(self) -> bool:
        return True

    # Watching.
    def running_check(self) -> Callable[[str], bool] | None:
        """Whether a node's machine runs, by name; None for machines not ours to start."""
        return None

    def disk_usage(self, node) -> tuple[int, int] | None:
        """(used, size) in bytes of the node's data disk when the provider can read it
        without logging in; None: ask the node over SSH (jobs.disks)."""
        return None

    def machine_watch(self) -> "MachineWatch | None":
        """Events of machines confirmed gone (fencing), or None when the provider
        cannot prove a machine dead: then Patroni's ttl stays the rule."""
        return None

    # The playbooks' view.
    def lab_variables(self, instance) -> dict[str, Any]:
        """The provider's part of ``dbaas_lab``."""
        return {}


class MachineWatch:
    """Which watched machines are confirmed gone: they can no longer write (their
    processes ended, their domain stopped). "Unreachable" is never reported."""

    def watch(self, name: str) -> None:
        """Follow the machine of a node that should run (again: its current incarnation)."""
        raise NotImplementedError

    def forget(self, name: str) -> None:
        raise NotImplementedError

    def gone(self, timeout: float) -> list[str]:
        """Watched machines confirmed gone since the last call, each incarnation once;
        waits up to ``timeout`` seconds for one."""
        raise NotImplementedError

    def close(self) -> None:
        pass
