"""Operations: the changes waiting for, or being carried out by, a job."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Action, Instance, Operation, OperationStatus, Target
from app.services.errors import Conflict


def unfinished(session: Session, target_uuid: str) -> Operation | None:
    """The operation still pending or running on a resource, if any."""
    return session.scalars(
        select(Operation)
        .where(
            Operation.target_uuid == target_uuid,
            Operation.status.in_(OperationStatus.unfinished()),
        )
        .order_by(Operation.id.desc())
    ).first()


def is_being_deleted(session: Session, target_uuid: str) -> bool:
    operation = unfinished(session, target_uuid)
    return operation is not None and operation.action == Action.DELETE


def refuse_if_busy(session: Session, target_uuid: str, what: str) -> None:
    """409 naming the blocking operation if the resource has a change under way."""
    blocking = unfinished(session, target_uuid)
    if blocking is not None:
        raise Conflict(
            f"The {what} has an operation ({blocking.action}) {blocking.status.lower()}; "
            "retry when it has finished.",
            operation=blocking.uuid,
        )


def record(
    session: Session,
    instance: Instance,
    target: Target,
    target_uuid: str,
    action: Action,
    params: dict[str, Any] | None = None,
) -> Operation:
    """Add an operation to the session; the caller commits it with the resource."""
    operation = Operation(
        instance=instance,
        target=target,
        target_uuid=target_uuid,
        action=action,
        params=params or {},
    )
    session.add(operation)
    return operation
