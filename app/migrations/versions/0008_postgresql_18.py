"""PostgreSQL 18 joins a catalogue loaded before it shipped

A new service fills its empty catalogue with every default version at first start; a
running one keeps the catalogue it has, so the version is added here, unless an
administrator already has one on its image or by its name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:00:00
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "PostgreSQL 18"
IMAGE = "debian-forky-pg18"

versions = sa.table(
    "versions",
    sa.column("uuid", sa.String),
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("image", sa.String),
    sa.column("deprecated", sa.Boolean),
    sa.column("created_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)


def upgrade() -> None:
    connection = op.get_bind()
    if not connection.scalar(sa.select(sa.func.count()).select_from(versions)):
        return  # empty: the first start loads the whole default catalogue
    taken = sa.or_(versions.c.image == IMAGE, versions.c.name == NAME)
    if connection.scalar(sa.select(sa.func.count()).select_from(versions).where(taken)):
        return
    now = datetime.now(UTC)  # as the models write it
    op.bulk_insert(
        versions,
        [
            {
                "uuid": str(uuid.uuid4()),
                "name": NAME,
                "description": "PostgreSQL 18 on Debian testing (forky), Patroni and etcd",
                "image": IMAGE,
                "deprecated": False,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    pass  # the version may carry instances by then: it stays
