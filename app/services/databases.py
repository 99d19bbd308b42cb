"""Databases of an instance, each owned by one of its users."""

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.services import operations
from app.services.errors import Conflict, Invalid, NotFound
from app.services.projects import take_client_uuid, take_instance_reference, take_project_id
from app.services.references import canonical_uuid, parse_user
from app.services.users import refuse_if_instance_deleted
from core import lifecycle
from core.models import Action, Database, Instance, Operation, Status, User


def instance_databases(instance: Instance) -> Select:
    return select(Database).where(Database.instance_id == instance.id)


def get_database(session: Session, instance: Instance, uuid: str) -> Database:
    database = session.scalars(
        instance_databases(instance).where(Database.uuid == canonical_uuid(uuid))
    ).first()
    if database is None:
        raise NotFound("No such database.")
    return database


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
    refuse_if_instance_deleted(session, instance)
    data = dict(data)
    uuid = take_client_uuid(session, data)
    take_project_id(data, instance.project_id)
    take_instance_reference(data, instance.uuid)
    owner = resolve_owner(session, instance, data["owner"])
    if session.scalars(instance_databases(instance).where(Database.name == data["name"])).first():
        raise Conflict(
            f"The instance has a database named '{data['name']}'.", {"name": ["Already taken."]}
        )
    database = Database(
        instance=instance,
        name=data["name"],
        description=data.get("description", ""),
        owner=owner,
        status=Status.NEW,
    )
    if uuid is not None:
        database.uuid = uuid
    session.add(database)
    session.flush()
    operation = operations.record(session, database, Action.CREATE)
    session.commit()
    return database, operation


def delete_database(session: Session, database: Database) -> Operation:
    refuse_if_instance_deleted(session, database.instance)
    operations.refuse_if_busy(session, database)
    operation = operations.record(session, database, Action.DELETE)
    lifecycle.change_asked(database)
    session.commit()
    return operation
