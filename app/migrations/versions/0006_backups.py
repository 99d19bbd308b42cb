"""backups: an archive (pgBackRest stanza) per instance, outliving it, and its backups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:00:00
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", core.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", core.models.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("project_id", sa.String(36), nullable=False, index=True),
        sa.Column(
            "instance_id",
            sa.Integer(),
            sa.ForeignKey("instances.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("instance_name", sa.String(63), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("schedule", sa.String(8), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("passphrase", sa.LargeBinary(), nullable=False),
        sa.Column("recovery_earliest", core.models.UTCDateTime(), nullable=True),
        sa.Column("recovery_latest", core.models.UTCDateTime(), nullable=True),
        sa.Column("archive_error", sa.Text(), nullable=True),
        sa.Column("last_verified_restore", sa.JSON(), nullable=True),
        sa.Column("abandoned", sa.JSON(), nullable=False),
        sa.Column("deleted_at", core.models.UTCDateTime(), nullable=True),
        *_timestamps(),
    )
    op.create_table(
        "backups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column(
            "archive_id",
            sa.Integer(),
            sa.ForeignKey("archives.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("started_at", core.models.UTCDateTime(), nullable=True),
        sa.Column("finished_at", core.models.UTCDateTime(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("repository_size", sa.BigInteger(), nullable=True),
        sa.Column("wal_start", sa.String(24), nullable=True),
        sa.Column("wal_stop", sa.String(24), nullable=True),
        *_timestamps(),
    )


def downgrade() -> None:
    op.drop_table("backups")
    op.drop_table("archives")
