"""An instance's nodes as records: names and addresses from the lab network, allocated
in the database so that no two nodes share one; a deleted instance's rows go with it,
which releases its addresses."""

import ipaddress
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import role_code
from app.models import Instance, Node, Status

ETCD_MEMBERS = 3


class PoolExhausted(Exception):
    pass


def node_name() -> str:
    # 12 characters: nspawn names the host side of the veth "vb-<name>" (15 at most).
    return "pg" + uuid.uuid4().hex[:10]


def _free_addresses(session: Session, network: ipaddress.IPv4Network):
    used = set(session.scalars(select(Node.address).where(Node.address.is_not(None))))
    hosts = network.hosts()
    next(hosts)  # the first address is the host's own, on the bridge
    for address in hosts:
        if str(address) not in used:
            yield str(address)


def allocate(session: Session, instance: Instance, network: str, attempts: int = 5) -> list[Node]:
    """Give the instance nodes_number nodes, each with a free address (idempotent)."""
    pool = ipaddress.IPv4Network(network)
    for _ in range(attempts):
        wanted = set(range(1, instance.nodes_number + 1)) - {n.index for n in instance.nodes}
        free = _free_addresses(session, pool)
        try:
            for index in sorted(wanted):
                address = next(free, None)
                if address is None:
                    session.rollback()
                    raise PoolExhausted(f"no free address left in the lab network {network}")
                instance.nodes.append(
                    Node(
                        index=index,
                        name=node_name(),
                        address=address,
                        status=Status.NEW,
                        # etcd runs on the first three nodes (by index).
                        etcd_member=index <= ETCD_MEMBERS,
                    )
                )
            session.commit()
            return sorted(instance.nodes, key=lambda node: node.index)
        except IntegrityError:
            # Another job took an address between our read and our write: read again.
            session.rollback()
    raise PoolExhausted("could not allocate addresses: too much contention")


# The node_nspawn role's helper: the one authority on whether a node runs.
nspawn_node = role_code.load("node_nspawn", "files/nspawn_node.py")


def machine_running(state_dir: Path) -> bool:
    """Whether a lab node's recorded init (PID and start time) still runs."""
    return nspawn_node.node_init(state_dir) is not None


def stopped_instances(session: Session, nodes_dir: Path) -> list[Instance]:
    """ACTIVE instances with a node that should run and does not."""
    active = session.scalars(select(Instance).where(Instance.status == Status.ACTIVE)).all()
    return [
        instance
        for instance in active
        if any(
            node.status == Status.ACTIVE and not machine_running(nodes_dir / node.name)
            for node in instance.nodes
        )
    ]
