"""the team sync: where residents moved from, and each synced table by updated_at

A team's offline sync reads what changed since a moment: every synced table gets an index on
updated_at. A resident row keeps only where it lives now, so each change of village is recorded
(resident_moves): the sync tells the teams whose area it left that the resident is gone.

Revision ID: 0017_sync
Revises: 0016_call_client_id
Create Date: 2026-12-03 17:07:56.738101

"""
import sqlalchemy as sa
from alembic import op

revision = "0017_sync"
down_revision = "0016_call_client_id"
branch_labels = None
depends_on = None

SYNCED = ("residents", "conditions", "follow_ups", "contracts", "service_deliveries", "calls")


def upgrade():
    op.create_table(
        "resident_moves",
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("from_region", sa.String(length=12), nullable=True),
        sa.Column("to_region", sa.String(length=12), nullable=True),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_resident_moves_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_moves")),
    )
    op.create_index(op.f("ix_resident_moves_moved_at"), "resident_moves", ["moved_at"], unique=False)
    op.create_index(op.f("ix_resident_moves_resident_id"), "resident_moves", ["resident_id"], unique=False)
    for table in SYNCED:
        op.create_index(f"ix_{table}_updated_at", table, ["updated_at"], unique=False)


def downgrade():
    for table in SYNCED:
        op.drop_index(f"ix_{table}_updated_at", table_name=table)
    op.drop_index(op.f("ix_resident_moves_resident_id"), table_name="resident_moves")
    op.drop_index(op.f("ix_resident_moves_moved_at"), table_name="resident_moves")
    op.drop_table("resident_moves")
