"""contracts: the team's live contracts by region in a partial index of their own

The ranges of region codes that find a team's residents outside its villages followed a status
list in the old index, so PostgreSQL read every contract of the team (expired ones too) and
filtered; a partial index of live contracts by (team, region) reads just the ranges. The team
and status index goes back to its two columns.

Revision ID: 0010_team_live_region_index
Revises: 0009_access_log_without_key
Create Date: 2026-11-26 13:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_team_live_region_index'
down_revision = '0009_access_log_without_key'
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('pending', 'active')")


def upgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_team_status')
        batch_op.create_index('ix_contracts_team_status', ['team_id', 'status'], unique=False)
        batch_op.create_index('ix_contracts_team_live_region', ['team_id', 'region_code'], unique=False,
                              postgresql_include=['resident_id'], postgresql_where=LIVE, sqlite_where=LIVE)


def downgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_team_live_region', postgresql_where=LIVE, sqlite_where=LIVE)
        batch_op.drop_index('ix_contracts_team_status')
        batch_op.create_index('ix_contracts_team_status', ['team_id', 'status', 'region_code'], unique=False,
                              postgresql_include=['resident_id'])
