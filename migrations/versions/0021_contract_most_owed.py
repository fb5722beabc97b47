"""contracts: the most any item owes, beside the contract

A contract owes nothing yet until its most owed item times the days passed reaches the term's
days; the team's work list leaves such contracts out by this column without reading their
items. Contracts signed before it are filled from their items.

Revision ID: 0021_contract_most_owed
Revises: 0020_contract_items_owed
Create Date: 2026-12-07 10:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0021_contract_most_owed'
down_revision = '0020_contract_items_owed'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('most_owed', sa.Integer(), nullable=True))
    op.execute("UPDATE contracts SET most_owed = "
               "(SELECT max(owed) FROM contract_items WHERE contract_items.contract_id = contracts.id)")


def downgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_column('most_owed')
