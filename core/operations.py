"""Operations: the changes waiting for, or being carried out by, a job.

An operation is keyed by what it changes — (kind, record) inside its instance — never
by a uuid alone: a uuid is client-chosen, and the same text as another kind's uuid must
not make one tenant's record look busy to another's."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import (
    Action,
    Backup,
    Database,
    Instance,
    Operation,
    OperationStatus,
    Target,
    User,
)

Record = Instance | User | Database | Backup

TARGETS: dict[type, Target] = {
    Instance: Target.INSTANCE,
    User: Target.USER,
    Database: Target.DATABASE,
    Backup: Target.BACKUP,
}


def _instance_of(resource: Record) -> Instance:
    return resource if isinstance(resource, Instance) else resource.instance


def unfinished(session: Session, resource: Record) -> Operation | None:
    """The operation still pending or running on a resource, if any."""
    return session.scalars(
        select(Operation)
        .where(
            Operation.instance_id == _instance_of(resource).id,
            Operation.target == TARGETS[type(resource)],
            Operation.target_uuid == resource.uuid,
            Operation.status.in_(OperationStatus.unfinished()),
        )
        .order_by(Operation.id.desc())
    ).first()


def is_being_deleted(session: Session, resource: Record) -> bool:
    operation = unfinished(session, resource)
    return operation is not None and operation.action == Action.DELETE


def record(
    session: Session, resource: Record, action: Action, params: dict[str, Any] | None = None
) -> Operation:
    """Add an operation to the session; the caller commits it with the resource."""
    operation = Operation(
        instance=_instance_of(resource),
        target=TARGETS[type(resource)],
        target_uuid=resource.uuid,
        action=action,
        params=params or {},
    )
    session.add(operation)
    return operation
