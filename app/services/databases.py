"""Databases of an instance, each owned by one of its users."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import children, operations
from app.services.errors import Invalid
from app.services.references import parse_user
from core.models import Database, Instance, Operation, Status, User


def resolve_owner(session: Session, instance: Instance, reference: str) -> User:
    parsed = parse_user(reference)
    if parsed is None:
        raise Invalid(
            "owner",
            "Not a user URI (/v1/types/postgres/instances/UUID/users/UUID) or UUID.",
        )
    instance_uuid, user_uuid = parsed
    owner = None
    if instance_uuid in (None, instance.uuid):
        owner = session.scalars(
            select(User).where(User.instance_id == instance.id, User.uuid == user_uuid)
        ).first()
    if owner is None:
        raise Invalid("owner", "Must be a user of this instance.")
    if operations.is_being_deleted(session, owner):
        raise Invalid("owner", f"User '{owner.name}' is being deleted.")
    return owner


def create_database(
    session: Session, instance: Instance, data: dict[str, Any]
) -> tuple[Database, Operation]:
    uuid, data = children.take_create_fields(session, Database, instance, data)
    database = Database(
        instance=instance,
        name=data["name"],
        description=data.get("description", ""),
        owner=resolve_owner(session, instance, data["owner"]),
        status=Status.NEW,
    )
    return operations.created(session, database, uuid)


def delete_database(session: Session, database: Database) -> Operation | None:
    return children.delete(session, database)
