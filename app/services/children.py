"""What users and databases share: records that live inside one instance, named
uniquely there, created and deleted by an operation each."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.services import operations
from app.services.errors import Conflict, NotFound
from app.services.projects import take_client_uuid, take_instance_reference, take_project_id
from app.services.references import canonical_uuid
from core import lifecycle
from core.models import Action, Database, Instance, Operation, OperationStatus, User
from core.operations import TARGETS

Child = User | Database


def of_instance(model: type[Child], instance: Instance) -> Select:
    return select(model).where(model.instance_id == instance.id)


def get(session: Session, model: type[Child], instance: Instance, uuid: str) -> Child:
    record = session.scalars(
        of_instance(model, instance).where(model.uuid == canonical_uuid(uuid))
    ).first()
    if record is None:
        raise NotFound(f"No such {TARGETS[model]}.")
    return record


def refuse_if_instance_deleted(session: Session, instance: Instance) -> None:
    if operations.is_being_deleted(session, instance):
        raise Conflict("The instance is being deleted.")


def take_create_fields(
    session: Session, model: type[Child], instance: Instance, data: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """A create body's checks common to both kinds: the client's uuid (returned), the
    project and instance it names, a name free in the instance."""
    refuse_if_instance_deleted(session, instance)
    data = dict(data)
    uuid = take_client_uuid(session, data)
    take_project_id(data, instance.project_id)
    take_instance_reference(data, instance.uuid)
    if session.scalars(of_instance(model, instance).where(model.name == data["name"])).first():
        raise Conflict(
            f"The instance has a {TARGETS[model]} named '{data['name']}'.",
            {"name": ["Already taken."]},
        )
    return uuid, data


def change(
    session: Session,
    record: Child,
    action: Action,
    params: dict[str, Any] | None = None,
    apply: Callable[[], None] | None = None,
) -> Operation:
    """An update or a delete asked for: one at a time, never once the instance goes;
    ``apply`` changes the record once those checks have passed."""
    refuse_if_instance_deleted(session, record.instance)
    operations.refuse_if_busy(session, record)
    if apply is not None:
        apply()
    operation = operations.record(session, record, action, params)
    lifecycle.change_asked(record)
    session.commit()
    return operation


def delete(session: Session, record: Child) -> Operation | None:
    """A DELETE at any time: a change still waiting is cancelled (and a record whose
    create never ran is simply gone: nothing was made on the machines), a running one
    is stopped; then the delete runs. None when nothing is left to run."""
    refuse_if_instance_deleted(session, record.instance)
    moot = operations.unfinished(session, record)
    if moot is not None and moot.action == Action.DELETE:
        raise Conflict(f"The {TARGETS[type(record)]} is being deleted.")
    if moot is not None and moot.status == OperationStatus.PENDING:
        never_ran = moot.action == Action.CREATE and moot.attempts == 0
        lifecycle.operation_cancelled(moot, f"Cancelled: the {moot.target} was deleted.")
        if never_ran:
            session.delete(record)
            session.commit()
            return None
    elif moot is not None:
        lifecycle.cancel_asked(moot)
    operation = operations.record(session, record, Action.DELETE)
    lifecycle.change_asked(record)
    session.commit()
    return operation
