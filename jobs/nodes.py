"""An instance's nodes as records: names and addresses from the provider, allocated
in the database so that no two nodes share one; a deleted instance's rows go with it,
which releases its addresses."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import Instance, Node, Status
from jobs.providers import PoolExhausted, Provider

ETCD_MEMBERS = 3


def _used_addresses(session: Session) -> set[str]:
    return set(session.scalars(select(Node.address).where(Node.address.is_not(None))))


def allocate(
    session: Session, instance: Instance, provider: Provider, attempts: int = 5
) -> list[Node]:
    """Give the instance nodes_number nodes, each a free (name, address) of the
    provider's; idempotent."""
    for _ in range(attempts):
        wanted = set(range(1, instance.nodes_number + 1)) - {n.index for n in instance.nodes}
        free = provider.free_machines(_used_addresses(session))
        try:
            for index in sorted(wanted):
                pair = next(free, None)
                if pair is None:
                    session.rollback()
                    raise PoolExhausted(provider.exhausted())
                name, address = pair
                instance.nodes.append(
                    Node(
                        index=index,
                        name=name,
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


def stopped_nodes(session: Session, is_running) -> list[tuple[Instance, list[Node]]]:
    """ACTIVE instances with nodes that should run and do not, with those nodes."""
    active = session.scalars(select(Instance).where(Instance.status == Status.ACTIVE)).all()
    found = []
    for instance in active:
        stopped = [
            node
            for node in instance.nodes
            if node.status == Status.ACTIVE and not is_running(node.name)
        ]
        if stopped:
            found.append((instance, stopped))
    return found
