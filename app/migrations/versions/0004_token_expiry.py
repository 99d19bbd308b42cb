"""tokens can expire and be revoked; when each was last used

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:25:00
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch_op:
        batch_op.add_column(sa.Column("expires_at", core.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", core.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", core.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("expires_at")
