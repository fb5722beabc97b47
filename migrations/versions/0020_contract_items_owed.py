"""contract items: a covering index of what each item owes, for the teams' work lists

The work list of a team of ten thousand contracts reads the items of each one; with their owed
counts in the index the planner probes them contract by contract (index-only) instead of
hashing every contract item of the deployment.

Revision ID: 0020_contract_items_owed
Revises: 0019_stat_rollup
Create Date: 2026-12-07 10:50:00

"""
from alembic import op

revision = '0020_contract_items_owed'
down_revision = '0019_stat_rollup'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contract_items', schema=None) as batch_op:
        batch_op.create_index('ix_contract_items_owed', ['contract_id'], unique=False,
                              postgresql_include=['code', 'owed', 'follow_up_disease', 'health_check'])


def downgrade():
    with op.batch_alter_table('contract_items', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_items_owed')
