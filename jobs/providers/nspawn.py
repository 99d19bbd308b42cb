"""Lab nodes as systemd-nspawn containers on this host (the default provider)."""

from collections.abc import Callable

from core import nspawn_node
from jobs.providers.lab import LabProvider


class Nspawn(LabProvider):
    name = "nspawn"

    def running_check(self) -> Callable[[str], bool]:
        # The node's recorded init (PID and start time) is the one authority.
        nodes_dir = self.nodes_dir()
        return lambda name: nspawn_node.node_init(nodes_dir / name) is not None


PROVIDER = Nspawn
