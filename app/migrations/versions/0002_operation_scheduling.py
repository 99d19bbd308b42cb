"""operation scheduling, node names and instance secrets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:03:47.431316
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "name"),
    )
    # No node exists yet in any deployment before this revision: the empty default
    # only satisfies NOT NULL.
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=63), nullable=False, server_default="")
        )
        batch_op.create_unique_constraint("uq_nodes_name", ["name"])
        batch_op.add_column(
            sa.Column("etcd_member", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("heartbeat_at", core.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("runner_pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_table("instance_secrets")
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_column("runner_pid")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("parked")

    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("etcd_member")
        batch_op.drop_constraint("uq_nodes_name", type_="unique")
        batch_op.drop_column("name")
