"""An instance's nodes as records: names and addresses from the lab network, allocated
in the database so that no two nodes share one; a deleted instance's rows go with it,
which releases its addresses."""

import ipaddress
import subprocess
import uuid
from pathlib import Path

import yaml
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


def _used_addresses(session: Session) -> set[str]:
    return set(session.scalars(select(Node.address).where(Node.address.is_not(None))))


def lab_pool(network: str):
    """Free (name, address) pairs of the nspawn lab: new names, the network's addresses
    (the first is the host's own, on the bridge)."""
    pool = ipaddress.IPv4Network(network)

    def free(session: Session):
        used = _used_addresses(session)
        for address in list(pool.hosts())[1:]:
            if str(address) not in used:
                yield node_name(), str(address)

    return free, f"no free address left in the lab network {network}"


def load_static_hosts(path: str) -> list[dict]:
    """The static provider's machines: a YAML list of {name, address, ...}."""
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


def static_pool(hosts: list[dict]):
    """Free machines of the static provider: each holds one instance's node at a time."""

    def free(session: Session):
        used = _used_addresses(session)
        for host in hosts:
            if str(host["address"]) not in used:
                yield str(host["name"]), str(host["address"])

    return free, f"all {len(hosts)} static hosts are in use"


def pool_for(settings: dict):
    if settings.get("PROVIDER", "nspawn") == "static":
        return static_pool(load_static_hosts(settings.get("STATIC_HOSTS", "")))
    return lab_pool(settings["LAB_NETWORK"])


def allocate(session: Session, instance: Instance, pool, attempts: int = 5) -> list[Node]:
    """Give the instance nodes_number nodes, each a free (name, address) of the pool
    (lab_pool, static_pool; a bare network string means the lab's); idempotent."""
    free_pairs, exhausted = lab_pool(pool) if isinstance(pool, str) else pool
    for _ in range(attempts):
        wanted = set(range(1, instance.nodes_number + 1)) - {n.index for n in instance.nodes}
        free = free_pairs(session)
        try:
            for index in sorted(wanted):
                pair = next(free, None)
                if pair is None:
                    session.rollback()
                    raise PoolExhausted(exhausted)
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


# The node_nspawn role's helper: the one authority on whether a node runs.
nspawn_node = role_code.load("node_nspawn", "files/nspawn_node.py")


def machine_running(state_dir: Path) -> bool:
    """Whether a lab node's recorded init (PID and start time) still runs."""
    return nspawn_node.node_init(state_dir) is not None


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


def running_check(settings: dict):
    """How to tell whether a node's machine runs, for the providers that make them:
    a function of the node's name, or None (static machines are not ours to watch)."""
    provider = settings.get("PROVIDER", "nspawn")
    if provider == "nspawn":
        nodes_dir = Path(settings["DATA_DIR"]) / "nodes"
        return lambda name: machine_running(nodes_dir / name)
    if provider == "libvirt":
        running = running_domains(settings["LIBVIRT_URI"])
        return None if running is None else running.__contains__
    return None


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
