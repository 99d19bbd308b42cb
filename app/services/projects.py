"""Projects own instances; a token belongs to one project."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.errors import Conflict, Forbidden, Invalid
from app.services.references import parse_instance
from core.models import Archive, Backup, Database, Instance, User, Version


def take_project_id(data: dict[str, Any], project_id: str) -> None:
    """Remove a client-sent ``project_id`` from ``data``; it must be the token's (else 403)."""
    if data.pop("project_id", project_id) != project_id:
        raise Forbidden(
            "project_id is not the project of your token.",
            {"project_id": ["Must be the project of your token."]},
        )


def take_instance_reference(data: dict[str, Any], instance_uuid: str) -> None:
    """A create body may name its instance (the spec's manifests do): it must be the path's."""
    reference = data.pop("instance", None)
    if reference is not None and parse_instance(reference) != instance_uuid:
        raise Invalid("instance", "Must be the instance of the URL (its URI or UUID).")


# Every kind of record a client may name by uuid. A uuid is one name space across them,
# so one record's uuid can never stand for another's.
# (An archive keeps its deleted instance's uuid: that name stays taken.)
_UUID_KINDS = (Instance, User, Database, Version, Archive, Backup)


def take_client_uuid(session: Session, data: dict[str, Any]) -> str | None:
    """Remove a client-chosen ``uuid`` from ``data``; 409 if any record has it, whatever
    its kind or project (the answer tells nothing of the other record)."""
    uuid = data.pop("uuid", None)
    if uuid is not None and any(
        session.scalar(select(kind.id).where(kind.uuid == uuid)) for kind in _UUID_KINDS
    ):
        raise Conflict("This uuid is taken.", {"uuid": ["Already taken."]})
    return uuid
