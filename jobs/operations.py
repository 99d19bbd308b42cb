"""The RQ job: load an operation by id and carry it out."""

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import config
from app.database import make_engine, writer
from app.models import Operation, OperationStatus
from jobs import events

log = logging.getLogger(__name__)

# (target, action) -> function carrying the operation out on the machines.
# The Ansible pipeline (issue 4 onward) registers its playbooks here.
PROVISIONERS: dict[tuple[str, str], Callable[[Session, Operation], None]] = {}


def run_operation(operation_uuid: str) -> str:
    # A fresh engine per job: the worker forks a process per job, and pooled
    # connections must not cross a fork.
    engine = make_engine(config.load()["DATABASE_URL"])
    try:
        with Session(writer(engine), expire_on_commit=False) as session:
            return _run(session, operation_uuid)
    finally:
        engine.dispose()


def _run(session: Session, operation_uuid: str) -> str:
    operation = session.scalars(select(Operation).where(Operation.uuid == operation_uuid)).first()
    if operation is None:
        log.warning("operation=%s gone before its job ran", operation_uuid)
        return "gone"
    if operation.status != OperationStatus.PENDING:
        # Delivered twice (outbox relay and API raced): the first delivery owns it.
        return f"already {operation.status}"
    events.operation_started(session, operation)
    provisioner = PROVISIONERS.get((operation.target, operation.action))
    if provisioner is None:
        events.operation_failed(
            session,
            operation,
            {
                "message": (
                    f"No provisioner for {operation.target} {operation.action} in this "
                    "version of dbaas: the record is kept, nothing was changed on any machine."
                ),
                "task": None,
                "host": None,
            },
        )
        return "failed"
    provisioner(session, operation)
    return operation.status
