"""PostgreSQL roles of an instance. The password becomes a SCRAM verifier here and
is dropped: no record, queue message or playbook ever sees it."""

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.services import operations
from app.services.errors import Conflict, NotFound
from app.services.projects import take_client_uuid, take_instance_reference, take_project_id
from app.services.references import canonical_uuid
from core import lifecycle, scram
from core.models import Action, Database, Instance, Operation, Status, User


def instance_users(instance: Instance) -> Select:
    return select(User).where(User.instance_id == instance.id)


def get_user(session: Session, instance: Instance, uuid: str) -> User:
    user = session.scalars(
        instance_users(instance).where(User.uuid == canonical_uuid(uuid))
    ).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def refuse_if_instance_deleted(session: Session, instance: Instance) -> None:
    if operations.is_being_deleted(session, instance):
        raise Conflict("The instance is being deleted.")


def create_user(
    session: Session, instance: Instance, data: dict[str, Any]
) -> tuple[User, Operation]:
    refuse_if_instance_deleted(session, instance)
    data = dict(data)
    uuid = take_client_uuid(session, data)
    take_project_id(data, instance.project_id)
    take_instance_reference(data, instance.uuid)
    if session.scalars(instance_users(instance).where(User.name == data["name"])).first():
        raise Conflict(
            f"The instance has a user named '{data['name']}'.", {"name": ["Already taken."]}
        )
    user = User(
        instance=instance,
        name=data["name"],
        description=data.get("description", ""),
        password_verifier=scram.verifier(data["password"]),
        status=Status.NEW,
    )
    if uuid is not None:
        user.uuid = uuid
    session.add(user)
    session.flush()
    operation = operations.record(session, user, Action.CREATE)
    session.commit()
    return user, operation


def update_user(session: Session, user: User, changes: dict[str, Any]) -> Operation:
    refuse_if_instance_deleted(session, user.instance)
    operations.refuse_if_busy(session, user)
    if "password" in changes:
        user.password_verifier = scram.verifier(changes["password"])
    if "description" in changes:
        user.description = changes["description"]
    # The operation names what changed, never a value: it holds no secret.
    operation = operations.record(
        session,
        user,
        Action.UPDATE,
        {"fields": sorted(changes)},
    )
    lifecycle.change_asked(user)
    session.commit()
    return operation


def delete_user(session: Session, user: User) -> Operation:
    refuse_if_instance_deleted(session, user.instance)
    owned = session.scalars(
        select(Database.name).where(Database.owner_id == user.id).order_by(Database.name)
    ).all()
    if owned:
        names = ", ".join(owned)
        raise Conflict(
            f"The user owns database(s) {names}: delete them first.", databases=list(owned)
        )
    operations.refuse_if_busy(session, user)
    operation = operations.record(session, user, Action.DELETE)
    lifecycle.change_asked(user)
    session.commit()
    return operation
