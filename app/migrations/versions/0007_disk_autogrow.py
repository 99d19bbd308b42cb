"""disk auto-grow: an instance's max_disk_size and its data disks' last measured usage

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch_op:
        batch_op.add_column(
            sa.Column("max_disk_size", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("disk_usage", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch_op:
        batch_op.drop_column("disk_usage")
        batch_op.drop_column("max_disk_size")
