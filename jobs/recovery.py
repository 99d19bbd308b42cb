"""Nothing stays stuck: operations whose job died are retried (playbooks are
idempotent) up to MAX_ATTEMPTS, and pending ones Redis lost are enqueued again.
Nothing stays behind either: a dead job's extravars are removed at once, finished
runs' directories and idempotency keys after RETENTION_DAYS."""

import logging
import os
import shutil
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import lifecycle, operations, tls
from core.config import DataDir
from core.models import (
    Action,
    IdempotencyKey,
    Instance,
    Node,
    Operation,
    OperationStatus,
    Status,
    utcnow,
)
from core.queue import JobQueue, job_id, relay_outbox
from jobs import backups, disks, nodes, providers, scheduling
from jobs.providers import PoolExhausted

log = logging.getLogger(__name__)

ALIVE_JOB_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def stop_orphaned_run(pid: int | None, run_dir: Path) -> bool:
    """Kill the ansible-playbook a dead job left running, if that PID is still ours."""
    if not pid:
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    # The PID may have been reused: act only on our ansible-playbook for this run.
    if "ansible-playbook" not in command or str(run_dir) not in command:
        return False
    try:
        if os.getpgid(pid) == pid:  # pexpect makes it a session leader: take its children too
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    log.warning("killed orphaned ansible-playbook pid=%s of %s", pid, run_dir.name)
    return True


def recover_dead_runs(session: Session, settings: dict[str, Any]) -> int:
    """RUNNING operations without a heartbeat for HEARTBEAT_TIMEOUT: requeue or fail."""
    deadline = utcnow() - timedelta(seconds=settings["HEARTBEAT_TIMEOUT"])
    stale_ids = session.scalars(
        select(Operation.id).where(
            Operation.status == OperationStatus.RUNNING, Operation.heartbeat_at < deadline
        )
    ).all()
    session.commit()
    recovered = 0
    for operation_id in stale_ids:
        operation = session.scalars(
            select(Operation).where(Operation.id == operation_id).with_for_update()
        ).first()
        # Re-checked under the lock: another worker's sweep may have taken it.
        if (
            operation is None
            or operation.status != OperationStatus.RUNNING
            or operation.heartbeat_at >= deadline
        ):
            session.commit()
            continue
        run_dir = DataDir.of(settings).runs / operation.uuid
        stop_orphaned_run(operation.runner_pid, run_dir)
        # The dead job could not remove what it was given (credentials among it); a
        # retry writes it anew.
        (run_dir / "env" / "extravars").unlink(missing_ok=True)
        if operation.attempts >= settings["MAX_ATTEMPTS"]:
            lifecycle.operation_failed(
                session,
                operation,
                {
                    "message": (
                        f"the job running this operation died {operation.attempts} times; giving up"
                    ),
                    "task": (operation.progress or {}).get("task"),
                    "host": (operation.progress or {}).get("host"),
                },
            )
        else:
            lifecycle.operation_requeued(session, operation, "the job running it stopped")
        recovered += 1
    return recovered


def requeue_lost(session: Session, job_queue: JobQueue) -> int:
    """PENDING operations marked enqueued whose job Redis no longer holds."""
    enqueued = session.scalars(
        select(Operation).where(
            Operation.status == OperationStatus.PENDING, Operation.enqueued_at.is_not(None)
        )
    ).all()
    lost = 0
    for operation in enqueued:
        try:
            job = Job.fetch(job_id(operation.uuid), connection=job_queue.redis)
            alive = job.get_status() in ALIVE_JOB_STATES
        except RedisError:
            raise
        except Exception:  # NoSuchJobError and unreadable jobs alike: it is lost
            alive = False
        if not alive:
            operation.enqueued_at = None
            lost += 1
    session.commit()
    return lost


def restart_stopped_nodes(session: Session, settings: dict[str, Any]) -> int:
    """Reconcile: an ACTIVE instance whose machines stopped (host reboot, a node's
    crash) gets a start operation, unless a change of it is already under way. The
    instance stays ACTIVE (its other nodes serve); the stopped nodes show ERROR."""
    try:
        is_running = providers.load(settings).running_check()
    except PoolExhausted as exc:  # a broken static hosts file: nothing to watch anyway
        log.warning("reconcile skipped: %s", exc)
        return 0
    if is_running is None:
        return 0  # static machines are not ours to start (or libvirt does not answer)
    started = 0
    for instance, stopped in nodes.stopped_nodes(session, is_running):
        if operations.unfinished(session, instance) is None:
            lifecycle.nodes_stopped(stopped)
            operations.record(session, instance, Action.START)
            session.commit()
            log.info(
                "instance=%s nodes %s stopped: start operation recorded",
                instance.uuid,
                ",".join(node.name for node in stopped),
            )
            started += 1
    return started


RENEWAL_CHECK_EVERY = 3600.0  # seconds; certificates are renewed 30 days before their end
_renewal_checked_at = [float("-inf")]


def renew_certificates(session: Session, settings: dict[str, Any]) -> int:
    """An ACTIVE instance whose node certificates near their end gets an update with no
    change of size: its run issues new ones (jobs.inputs) and the nodes re-read them."""
    if time.monotonic() - _renewal_checked_at[0] < RENEWAL_CHECK_EVERY:
        return 0
    _renewal_checked_at[0] = time.monotonic()
    renewed = 0
    for instance in session.scalars(select(Instance).where(Instance.status == Status.ACTIVE)):
        if operations.unfinished(session, instance) is None and tls.renewal_due(
            session, instance, settings
        ):
            operations.record(session, instance, Action.UPDATE, {"changes": {}})
            lifecycle.change_asked(instance)
            session.commit()
            log.info("instance=%s certificates near their end: update recorded", instance.uuid)
            renewed += 1
    return renewed


def prune_old(session: Session, settings: dict[str, Any]) -> int:
    """Run directories of finished operations, and idempotency keys, older than
    RETENTION_DAYS: removed (a run still pending or running keeps its directory); the
    known_hosts of nodes that are gone, at once."""
    keep = timedelta(days=settings["RETENTION_DAYS"])
    cutoff = time.time() - keep.total_seconds()
    unfinished = set(
        session.scalars(
            select(Operation.uuid).where(Operation.status.in_(OperationStatus.unfinished()))
        )
    )
    pruned = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - keep)
    ).rowcount
    session.commit()
    runs = DataDir.of(settings).runs
    for run_dir in runs.iterdir() if runs.is_dir() else ():
        if run_dir.name not in unfinished and run_dir.stat().st_mtime < cutoff:
            shutil.rmtree(run_dir, ignore_errors=True)
            pruned += 1
    # A node's pinned host key goes with its record (the machine is gone).
    known = DataDir.of(settings).known_hosts
    nodes_now = set(session.scalars(select(Node.uuid)))
    session.commit()
    for path in known.iterdir() if known.is_dir() else ():
        if path.name not in nodes_now:
            path.unlink(missing_ok=True)
            pruned += 1
    return pruned


def sweep(session: Session, settings: dict[str, Any], job_queue: JobQueue) -> dict[str, int]:
    """One round of recovery, run at worker start and periodically."""
    summary = {
        "dead": recover_dead_runs(session, settings),
        "lost": requeue_lost(session, job_queue),
        "restarts": restart_stopped_nodes(session, settings),
        "renewals": renew_certificates(session, settings),
        "pruned": prune_old(session, settings),
        "backups": backups.schedule_due(session, settings),
        "archives_removed": backups.purge_expired(session, settings),
        "disks_grown": disks.grow_filling_disks(session, settings, job_queue),
    }
    summary["relayed"] = relay_outbox(session, job_queue)
    summary["woken"] = scheduling.wake_unblocked(session, job_queue)
    if any(summary.values()):
        log.info("recovery sweep: %s", " ".join(f"{k}={v}" for k, v in summary.items()))
    return summary
