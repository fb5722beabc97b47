"""contract items: what was delivered of each in the term so far; contracts: how far behind

The team's work list looked up every owing item's deliveries (an index probe of the resident's
visits, health checks or services each) for ten thousand contracts; with the count kept on the
item, counted again by every write that can change it, it reads the items alone. The covering
index carries the count in place of what the lookups needed. Items of active contracts are
counted here once. A team's index of its contracts by status also holds the resident and the
term, so that the team card counts its contracted residents from the index alone.

Revision ID: 0022_contract_item_delivered
Revises: 0021_contract_most_owed
Create Date: 2026-12-07 14:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0022_contract_item_delivered'
down_revision = '0021_contract_most_owed'
branch_labels = None
depends_on = None


def _in_term(table: str, day: str) -> str:
    """The rows of ``table`` of the item's resident dated (``day``) within its contract's term."""
    return (f"FROM {table}, contracts c WHERE c.id = contract_items.contract_id "
            f"AND {table}.resident_id = c.resident_id AND {table}.{day} BETWEEN c.start_date AND c.end_date")


# As fulfilment.progress counts them: face-to-face visit days of the item's disease,
# health-check days, and services of the item's code, within the contract's term.
COUNT_DELIVERED = (
    "UPDATE contract_items SET delivered = CASE "
    f"WHEN follow_up_disease IS NOT NULL THEN (SELECT count(DISTINCT visited_on) {_in_term('follow_ups', 'visited_on')} "
    "AND follow_ups.disease = contract_items.follow_up_disease AND follow_ups.method IN ('clinic', 'home')) "
    f"WHEN health_check THEN (SELECT count(DISTINCT checked_on) {_in_term('health_checks', 'checked_on')}) "
    f"ELSE (SELECT count(*) {_in_term('service_deliveries', 'delivered_on')} "
    "AND service_deliveries.item_code = contract_items.code) END "
    "WHERE contract_id IN (SELECT id FROM contracts WHERE status = 'active' AND start_date IS NOT NULL)"
)


def upgrade():
    with op.batch_alter_table('contract_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_index('ix_contract_items_owed')
        batch_op.create_index('ix_contract_items_owed', ['contract_id'], unique=False,
                              postgresql_include=['owed', 'delivered'])
    op.execute(COUNT_DELIVERED)
    # How far each contract is behind is taken for the day by the nightly job (until then the
    # work list counts it from the items).
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('behind_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('behind_by', sa.Integer(), nullable=True))
        # The team card's count of contracted residents, from the index alone.
        batch_op.drop_index('ix_contracts_team_status')
        batch_op.create_index('ix_contracts_team_status', ['team_id', 'status', 'resident_id'], unique=False,
                              postgresql_include=['start_date', 'end_date'])


def downgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_team_status')
        batch_op.create_index('ix_contracts_team_status', ['team_id', 'status'], unique=False)
        batch_op.drop_column('behind_by')
        batch_op.drop_column('behind_on')
    with op.batch_alter_table('contract_items', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_items_owed')
        batch_op.create_index('ix_contract_items_owed', ['contract_id'], unique=False,
                              postgresql_include=['code', 'owed', 'follow_up_disease', 'health_check'])
        batch_op.drop_column('delivered')
