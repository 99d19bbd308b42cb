"""The one place where a job's progress becomes resource and operation status."""

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Database,
    Instance,
    Operation,
    OperationStatus,
    Status,
    Target,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

MODELS = {Target.INSTANCE: Instance, Target.USER: User, Target.DATABASE: Database}


def target_of(session: Session, operation: Operation):
    model = MODELS[Target(operation.target)]
    return session.scalars(select(model).where(model.uuid == operation.target_uuid)).first()


def operation_started(session: Session, operation: Operation) -> None:
    operation.status = OperationStatus.RUNNING
    operation.started_at = utcnow()
    operation.attempts += 1
    resource = target_of(session, operation)
    # An instance shows its provisioning; users and databases go NEW -> ACTIVE directly.
    if resource is not None and operation.target == Target.INSTANCE:
        resource.status = Status.IN_PROGRESS
    session.commit()
    _log(operation, "started")


def operation_failed(session: Session, operation: Operation, error: dict[str, Any]) -> None:
    operation.status = OperationStatus.FAILED
    operation.error = error
    operation.finished_at = utcnow()
    resource = target_of(session, operation)
    if resource is not None:
        resource.status = Status.ERROR
        resource.error = error
    session.commit()
    _log(operation, "failed", error=error.get("message"))


def operation_succeeded(session: Session, operation: Operation) -> None:
    operation.status = OperationStatus.SUCCEEDED
    operation.finished_at = utcnow()
    resource = target_of(session, operation)
    if resource is not None:
        if operation.action == Action.DELETE:
            session.delete(resource)
        else:
            resource.status = Status.ACTIVE
            resource.error = None
    session.commit()
    _log(operation, "succeeded")


def _log(operation: Operation, event: str, **fields: Any) -> None:
    extra = " ".join(f"{key}={value!r}" for key, value in fields.items())
    log.info(
        "operation=%s instance_id=%s target=%s action=%s %s %s",
        operation.uuid,
        operation.instance_id,
        operation.target,
        operation.action,
        event,
        extra,
    )
