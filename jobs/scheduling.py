"""Order and exclusion per instance: one operation runs on an instance at a time,
instance changes first, then users' and databases' in the order they were asked for,
and those only on an ACTIVE instance. An operation that cannot run yet is parked;
the one that finishes before it wakes it up."""

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Instance, Operation, OperationStatus, Status, Target
from core.queue import JobQueue, enqueue

log = logging.getLogger(__name__)


def lock_instance(session: Session, instance_id: int) -> Instance | None:
    # PostgreSQL: a row lock serialises claims per instance. SQLite: the writing
    # session's BEGIN IMMEDIATE already serialises every writer.
    return session.scalars(
        select(Instance).where(Instance.id == instance_id).with_for_update()
    ).first()


def blocker(session: Session, operation: Operation, instance: Instance) -> str | None:
    """Why ``operation`` cannot start now, or None if it can."""
    others = session.scalars(
        select(Operation)
        .where(
            Operation.instance_id == instance.id,
            Operation.id != operation.id,
            Operation.status.in_(OperationStatus.unfinished()),
        )
        .order_by(Operation.id)
    ).all()
    running = next((o for o in others if o.status == OperationStatus.RUNNING), None)
    if running is not None:
        return f"waiting for operation {running.uuid} ({running.target} {running.action})"
    instance_changes = [o for o in others if o.target == Target.INSTANCE]
    if operation.target == Target.INSTANCE:
        older = next((o for o in instance_changes if o.id < operation.id), None)
        return None if older is None else f"waiting for operation {older.uuid}"
    if instance_changes:
        first = instance_changes[0]
        return f"waiting for the instance's {first.action} ({first.uuid})"
    if instance.status != Status.ACTIVE:
        return "waiting for the instance to be ACTIVE"
    older = next((o for o in others if o.id < operation.id), None)
    return None if older is None else f"waiting for operation {older.uuid}"


def _parked(session: Session, *where) -> list[Operation]:
    return session.scalars(
        select(Operation)
        .where(Operation.status == OperationStatus.PENDING, Operation.parked.is_(True), *where)
        .order_by(Operation.id)
    ).all()


def _unpark(session: Session, job_queue: JobQueue, operation: Operation) -> int:
    operation.parked = False
    session.commit()
    return int(enqueue(session, job_queue, operation))


def wake(session: Session, job_queue: JobQueue, instance_id: int) -> int:
    """Enqueue the instance's parked operations, oldest first; each re-checks its turn."""
    parked = _parked(session, Operation.instance_id == instance_id)
    return sum(_unpark(session, job_queue, operation) for operation in parked)


def wake_unblocked(session: Session, job_queue: JobQueue) -> int:
    """Enqueue the parked operations whose blocker is gone: a wake-up that was lost (the
    worker that finished the blocking run died before it woke them). One still blocked
    stays parked, and is not re-enqueued every sweep to find that out again."""
    woken = 0
    for operation in _parked(session):
        instance = session.get(Instance, operation.instance_id)
        if instance is not None and blocker(session, operation, instance) is None:
            woken += _unpark(session, job_queue, operation)
    session.commit()
    return woken
