"""The API's rule on operations: one change at a time per record."""

from sqlalchemy.orm import Session

from app.services.errors import Conflict
from core.models import Action, Operation
from core.operations import Record, is_being_deleted, record, unfinished

__all__ = ["created", "is_being_deleted", "record", "refuse_if_busy", "unfinished"]


def created(session: Session, resource: Record, uuid: str | None) -> tuple[Record, Operation]:
    """A new record (with the client's uuid, if it chose one) and its create
    operation, committed together."""
    if uuid is not None:
        resource.uuid = uuid
    session.add(resource)
    session.flush()
    operation = record(session, resource, Action.CREATE)
    session.commit()
    return resource, operation


def refuse_if_busy(session: Session, resource: Record) -> None:
    """409 naming the blocking operation if the resource has a change under way."""
    blocking = unfinished(session, resource)
    if blocking is not None:
        raise Conflict(
            f"The {blocking.target} has an operation ({blocking.action}) "
            f"{blocking.status.lower()}; retry when it has finished.",
            operation=blocking.uuid,
        )
