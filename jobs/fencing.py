"""Fencing: a leader whose machine is confirmed gone loses its leader key at once.

Patroni notices a dead leader only when its key expires (ttl, 20 s at least). The
provider owns the machines and knows better: when it confirms that the machine of an
instance's leader is gone (it can no longer write: jobs.providers.MachineWatch), the
worker removes that leader's key from the instance's etcd, compared on its value, so
only that leader's key goes. The synchronous standby is woken by etcd's watch and takes
the lock in Patroni's next loop. A machine that is merely unreachable is never fenced:
without proof it is dead, the ttl stays the rule. The node then shows ERROR and gets a
start operation, as the reconcile would give it half a minute later.
"""

import base64
import json
import logging
import ssl
import tempfile
import threading
import time
import urllib.request
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import lifecycle, operations, tls
from core.config import DataDir
from core.models import Action, Instance, Node, Status
from core.queue import JobQueue, enqueue
from jobs import providers
from jobs.providers import MachineWatch

log = logging.getLogger(__name__)

# How often the set of watched machines is read again (new nodes, nodes gone); the
# deaths themselves arrive as events.
REFRESH_SECONDS = 2.0
# etcd elects a new raft leader within its election timeout (0.5 s here) when the dead
# machine held it: each request waits half a second at most, then the next member's.
ETCD_DEADLINE_SECONDS = 10.0
ETCD_REQUEST_TIMEOUT = 0.5
ETCD_PORT = 2379


def leader_key(scope: str) -> str:
    """Patroni's leader key (namespace /service, scope the instance's uuid)."""
    return f"/service/{scope}/leader"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def delete_if_value_txn(key: str, value: str) -> dict[str, Any]:
    """etcd's v3 transaction deleting `key` only while it holds `value`."""
    return {
        "compare": [{"key": _b64(key), "result": "EQUAL", "target": "VALUE", "value": _b64(value)}],
        "success": [{"request_delete_range": {"key": _b64(key)}}],
    }


def client_context(issued: tls.Issued, ca_certificate: str, scratch: Path) -> ssl.SSLContext:
    """TLS as etcd wants it: the instance's CA vouches for us, the root for the member.
    The key touches the disk only inside a private scratch directory, for the load."""
    context = ssl.create_default_context(cadata=ca_certificate)
    with tempfile.TemporaryDirectory(dir=scratch) as directory:
        certificate, key = Path(directory) / "client.pem", Path(directory) / "client.key"
        certificate.write_text(issued.certificate)
        key.touch(mode=0o600)
        key.write_text(issued.key)
        context.load_cert_chain(certificate, key)
    return context


def remove_leader_key(
    members: list[str], scope: str, leader: str, context: ssl.SSLContext
) -> bool | None:
    """Whether the key named `leader` was removed (False: another node holds it, or
    none does), through the first member that answers; None if none answered."""
    body = json.dumps(delete_if_value_txn(leader_key(scope), leader)).encode()
    deadline = time.monotonic() + ETCD_DEADLINE_SECONDS
    attempt = 0
    while members and time.monotonic() < deadline:
        address = members[attempt % len(members)]
        attempt += 1
        request = urllib.request.Request(
            f"https://{address}:{ETCD_PORT}/v3/kv/txn", data=body, method="POST"
        )
        try:
            # An https URL of our own making (a node's address from the database).
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=ETCD_REQUEST_TIMEOUT, context=context
            ) as answer:
                return bool(json.loads(answer.read()).get("succeeded"))
        except (OSError, ValueError) as exc:  # no raft leader yet, or this member is away
            log.info("etcd %s did not take the fencing request: %s", address, exc)
            time.sleep(0.1)
    return None


class Fence:
    """The watch loop: a thread of the worker. DB work happens under `lock` (the
    worker's fork guard); network calls outside it."""

    def __init__(
        self,
        settings: dict[str, Any],
        watch: MachineWatch,
        engine,
        job_queue: JobQueue,
        lock: AbstractContextManager,
    ) -> None:
        self.settings, self.watch, self.engine = settings, watch, engine
        self.job_queue, self.lock = job_queue, lock
        self.watched: set[str] = set()

    @classmethod
    def for_worker(cls, settings, engine, job_queue, lock) -> "Fence | None":
        if not settings["FENCING"]:
            return None
        try:
            watch = providers.load(settings).machine_watch()
        except (ValueError, OSError, providers.PoolExhausted) as exc:  # preflight says why
            log.warning("no fencing: %s", exc)
            return None
        return None if watch is None else cls(settings, watch, engine, job_queue, lock)

    def run(self, stop: threading.Event) -> None:
        refreshed = float("-inf")
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() - refreshed >= REFRESH_SECONDS:
                        self.refresh()
                        refreshed = time.monotonic()
                    for name in self.watch.gone(timeout=REFRESH_SECONDS):
                        self.machine_gone(name)
                except Exception:  # keep watching; the next round reads everything again
                    log.exception("fencing round failed")
                    stop.wait(REFRESH_SECONDS)
        finally:
            self.watch.close()

    def refresh(self) -> None:
        """Watch the machines of the nodes that should run (ACTIVE ones)."""
        with self.lock, Session(self.engine) as session:
            running = set(session.scalars(select(Node.name).where(Node.status == Status.ACTIVE)))
        for name in self.watched - running:
            self.watch.forget(name)
        for name in running:
            self.watch.watch(name)  # new, or started again (a new incarnation), or as it was
        self.watched = running

    def machine_gone(self, name: str) -> None:
        seen = time.monotonic()
        with self.lock, Session(self.engine) as session:
            node = session.scalars(select(Node).where(Node.name == name)).first()
            if node is None or node.status != Status.ACTIVE:
                return
            instance = node.instance
            if operations.is_being_deleted(session, instance):
                return  # its machines are being removed on purpose
            scope = instance.uuid
            members = [
                n.address
                for n in instance.nodes
                if n.etcd_member and n.name != name and n.address is not None
            ]
            issued = tls.control_client_certificate(session, instance, self.settings)
            session.commit()
        if issued is None or not members:
            log.info("instance=%s node=%s machine gone; no other etcd member", scope, name)
        else:
            context = client_context(
                issued, tls.root_certificate(self.settings), DataDir.of(self.settings).root
            )
            removed = remove_leader_key(members, scope, name, context)
            took = round(time.monotonic() - seen, 3)
            if removed:
                log.warning(
                    "fenced: instance=%s node=%s machine gone; its leader key removed in %s s",
                    scope,
                    name,
                    took,
                )
            elif removed is False:
                log.info("instance=%s node=%s machine gone; it was not the leader", scope, name)
            else:
                log.warning(
                    "instance=%s node=%s machine gone; etcd did not answer: the ttl decides",
                    scope,
                    name,
                )
        self.start_again(name)

    def start_again(self, name: str) -> None:
        """The node shown ERROR and a start operation queued, unless a change of the
        instance is under way (it will find the machine itself)."""
        with self.lock, Session(self.engine, expire_on_commit=False) as session:
            node = session.scalars(select(Node).where(Node.name == name)).first()
            if node is None:
                return
            instance = session.get(Instance, node.instance_id)
            if instance.status != Status.ACTIVE or operations.unfinished(session, instance):
                session.commit()
                return
            lifecycle.nodes_stopped([node])
            operation = operations.record(session, instance, Action.START)
            session.commit()
            enqueue(session, self.job_queue, operation)
