"""team counts: each team's contracted residents for the day, kept by the writes

The team card (a resident's health record, the teams serving a village) counted a team's
contracted residents from its contracts at every read: ten thousand index entries for a large
team, the costliest statement of the health record. The count is now kept per team and day by
every write that changes the team's contracts and by the nightly job; a team without today's
count is counted as before, so nothing needs filling here.

Revision ID: 0023_team_counts
Revises: 0022_contract_item_delivered
Create Date: 2026-12-07 22:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0023_team_counts'
down_revision = '0022_contract_item_delivered'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'team_counts',
        sa.Column('team_id', sa.String(length=36), nullable=False),
        sa.Column('counted_on', sa.Date(), nullable=False),
        sa.Column('contracted', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_counts_team_id_teams')),
        sa.PrimaryKeyConstraint('team_id', name=op.f('pk_team_counts')),
    )


def downgrade():
    op.drop_table('team_counts')
