"""The API's rule on operations: one change at a time per record."""

from sqlalchemy.orm import Session

from app.services.errors import Conflict
from core.operations import Record, is_being_deleted, record, unfinished

__all__ = ["is_being_deleted", "record", "refuse_if_busy", "unfinished"]


def refuse_if_busy(session: Session, resource: Record) -> None:
    """409 naming the blocking operation if the resource has a change under way."""
    blocking = unfinished(session, resource)
    if blocking is not None:
        raise Conflict(
            f"The {blocking.target} has an operation ({blocking.action}) "
            f"{blocking.status.lower()}; retry when it has finished.",
            operation=blocking.uuid,
        )
