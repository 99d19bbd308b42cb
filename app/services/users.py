"""PostgreSQL roles of an instance. The password becomes a SCRAM verifier here and
is dropped: no record, queue message or playbook ever sees it."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import children, operations
from app.services.errors import Conflict
from core import scram
from core.models import Action, Database, Instance, Operation, Status, User


def create_user(
    session: Session, instance: Instance, data: dict[str, Any]
) -> tuple[User, Operation]:
    uuid, data = children.take_create_fields(session, User, instance, data)
    user = User(
        instance=instance,
        name=data["name"],
        description=data.get("description", ""),
        password_verifier=scram.verifier(data["password"]),
        status=Status.NEW,
    )
    return operations.created(session, user, uuid)


def update_user(session: Session, user: User, changes: dict[str, Any]) -> Operation:
    def apply() -> None:
        if "password" in changes:
            user.password_verifier = scram.verifier(changes["password"])
        if "description" in changes:
            user.description = changes["description"]

    # The operation names what changed, never a value: it holds no secret.
    return children.change(session, user, Action.UPDATE, {"fields": sorted(changes)}, apply)


def delete_user(session: Session, user: User) -> Operation | None:
    owned = session.scalars(
        select(Database.name).where(Database.owner_id == user.id).order_by(Database.name)
    ).all()
    if owned:
        names = ", ".join(owned)
        raise Conflict(
            f"The user owns database(s) {names}: delete them first.", databases=list(owned)
        )
    return children.delete(session, user)
