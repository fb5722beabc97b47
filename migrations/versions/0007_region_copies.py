"""conditions and contracts: a copy of the resident's village, for the teams' work lists

Revision ID: 0007_region_copies
Revises: 0006_region_prefix_index
Create Date: 2026-11-26 09:29:57.915966

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_region_copies'
down_revision = '0006_region_prefix_index'
branch_labels = None
depends_on = None

BACKFILL = "UPDATE {table} SET region_code = (SELECT r.region_code FROM residents r WHERE r.id = {table}.resident_id)"


def upgrade():
    with op.batch_alter_table('conditions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_code', sa.String(length=12), nullable=True))
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_code', sa.String(length=12), nullable=True))
    op.execute(BACKFILL.format(table='conditions'))
    op.execute(BACKFILL.format(table='contracts'))
    with op.batch_alter_table('conditions', schema=None) as batch_op:
        batch_op.create_index('ix_conditions_region_due', ['region_code', 'next_due_on'], unique=False, postgresql_ops={'region_code': 'varchar_pattern_ops'}, postgresql_where=sa.text('deregistered_on IS NULL'), sqlite_where=sa.text('deregistered_on IS NULL'))
    # The team index carries what the scope reads, so PostgreSQL answers from the index alone.
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_team_status')
        batch_op.create_index('ix_contracts_team_status', ['team_id', 'status', 'region_code'], unique=False, postgresql_include=['resident_id'])


def downgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_team_status')
        batch_op.create_index('ix_contracts_team_status', ['team_id', 'status'], unique=False)
        batch_op.drop_column('region_code')
    with op.batch_alter_table('conditions', schema=None) as batch_op:
        batch_op.drop_index('ix_conditions_region_due', postgresql_ops={'region_code': 'varchar_pattern_ops'}, postgresql_where=sa.text('deregistered_on IS NULL'), sqlite_where=sa.text('deregistered_on IS NULL'))
        batch_op.drop_column('region_code')
