"""Redis/RQ as transport only: a job carries an operation id, nothing else.

The operations table is an outbox: an operation is committed first, then enqueued;
one that could not be enqueued (Redis down) keeps ``enqueued_at`` NULL and the relay
enqueues it later. Nothing is lost when Redis is away or flushed.
"""

import logging

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Operation, OperationStatus, utcnow

log = logging.getLogger(__name__)

JOB_FUNCTION = "jobs.operations.run_operation"
JOB_TIMEOUT = 3 * 3600


def job_id(operation_uuid: str) -> str:
    return f"operation-{operation_uuid}"


class JobQueue:
    def __init__(self, redis_url: str, name: str) -> None:
        # Short timeouts: with Redis down the API must still answer promptly.
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
        self.queue = Queue(name, connection=self.redis)

    def enqueue(self, operation_uuid: str) -> None:
        self.queue.enqueue(
            JOB_FUNCTION,
            operation_uuid,
            job_id=job_id(operation_uuid),
            job_timeout=JOB_TIMEOUT,
            result_ttl=86400,
            failure_ttl=7 * 86400,
        )


def enqueue(session: Session, job_queue: JobQueue, operation: Operation) -> bool:
    """Put one committed operation on the queue; False (logged) if Redis is unreachable."""
    try:
        job_queue.enqueue(operation.uuid)
    except RedisError as exc:
        log.warning("operation %s stays in the outbox: %s", operation.uuid, exc)
        return False
    operation.enqueued_at = utcnow()
    session.commit()
    return True


def relay_outbox(session: Session, job_queue: JobQueue) -> int:
    """Enqueue every pending operation not on the queue yet; returns how many.

    Parked operations wait for another to finish, which wakes them (jobs.scheduling)."""
    statement = (
        select(Operation)
        .where(
            Operation.enqueued_at.is_(None),
            Operation.status == OperationStatus.PENDING,
            Operation.parked.is_(False),
        )
        .order_by(Operation.id)
    )
    waiting = session.scalars(statement).all()
    relayed = 0
    for operation in waiting:
        if not enqueue(session, job_queue, operation):
            break
        relayed += 1
    return relayed
