"""The catalogue of PostgreSQL versions, managed by administrators."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services.errors import Conflict, NotFound
from app.services.references import canonical_uuid
from core.models import Instance, Version

# Loaded on first start. Each image is a root image recipe (Debian suite -> PostgreSQL major).
DEFAULT_CATALOGUE = (
    {
        "name": "PostgreSQL 15",
        "description": "PostgreSQL 15 on Debian 12 (bookworm), Patroni and etcd",
        "image": "debian-bookworm-pg15",
    },
    {
        "name": "PostgreSQL 17",
        "description": "PostgreSQL 17 on Debian 13 (trixie), Patroni and etcd",
        "image": "debian-trixie-pg17",
    },
    {
        "name": "PostgreSQL 18",
        "description": "PostgreSQL 18 on Debian testing (forky), Patroni and etcd",
        "image": "debian-forky-pg18",
    },
)


def load_default_catalogue(session: Session) -> int:
    """Fill an empty catalogue; an administrator's later edits are left alone."""
    if session.scalar(select(func.count()).select_from(Version)):
        return 0
    session.add_all(Version(**entry) for entry in DEFAULT_CATALOGUE)
    session.commit()
    return len(DEFAULT_CATALOGUE)


def list_versions(session: Session) -> list[Version]:
    return list(session.scalars(select(Version).order_by(Version.name)))


def get_version(session: Session, uuid: str) -> Version:
    version = session.scalars(select(Version).where(Version.uuid == canonical_uuid(uuid))).first()
    if version is None:
        raise NotFound("No such version.")
    return version


def _refuse_taken_name(session: Session, name: str, version: Version | None = None) -> None:
    other = session.scalars(select(Version).where(Version.name == name)).first()
    if other is not None and other is not version:
        raise Conflict(f"A version named '{name}' exists.", {"name": ["Already taken."]})


def create_version(session: Session, data: dict[str, Any]) -> Version:
    _refuse_taken_name(session, data["name"])
    version = Version(**data)
    session.add(version)
    session.commit()
    return version


def update_version(session: Session, version: Version, changes: dict[str, Any]) -> Version:
    if "name" in changes:
        _refuse_taken_name(session, changes["name"], version)
    if changes.get("image", version.image) != version.image:
        in_use = session.scalar(
            select(func.count()).select_from(Instance).where(Instance.version_id == version.id)
        )
        if in_use:
            raise Conflict(
                f"{in_use} instance(s) run on this version: its image cannot change. "
                "Add a new version instead.",
                {"image": ["The version is in use."]},
            )
    for field, value in changes.items():
        setattr(version, field, value)
    session.commit()
    return version
