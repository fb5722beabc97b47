"""statistics rollup: the reporting tables the statistics are read from

Each county's counts on a day (today's, refreshed as records change, and the frozen month ends)
at the grain of village and team, written whole by the refresh (backend/stats/rollup.py); and
an index on health_checks.updated_at, by which the refresh finds the counties that changed.

Revision ID: 0019_stat_rollup
Revises: 0018_import_runs
Create Date: 2026-12-03 21:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0019_stat_rollup'
down_revision = '0018_import_runs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stat_cells',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('team_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('as_of', 'county_code', 'kind', 'region_code', 'team_id', 'key', name=op.f('pk_stat_cells'))
    )
    op.create_table('stat_snapshots',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('frozen', sa.Boolean(), nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'as_of', name=op.f('pk_stat_snapshots'))
    )
    with op.batch_alter_table('health_checks', schema=None) as batch_op:
        batch_op.create_index('ix_health_checks_updated_at', ['updated_at'], unique=False)



def downgrade():
    with op.batch_alter_table('health_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_health_checks_updated_at')

    op.drop_table('stat_snapshots')
    op.drop_table('stat_cells')
