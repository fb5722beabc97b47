"""access log keyed by (resident, moment, id)

The log is read one resident at a time, newest first. Its key was a random id: a second index,
written at a random place for every row of every read, that no query used. The key is now the
order the log is read in, and the (resident_id, at) index it replaces is gone.

On a deployment with a large log, build the new key first with
CREATE UNIQUE INDEX CONCURRENTLY and attach it with ADD CONSTRAINT ... USING INDEX; this
migration builds it in place, which holds the table for as long as the build takes.

Revision ID: 0011_access_log_by_resident
Revises: 0010_team_live_region_index
Create Date: 2026-11-26 15:40:00

"""
from alembic import op


revision = '0011_access_log_by_resident'
down_revision = '0010_team_live_region_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('access_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_access_logs_resident_at')
        batch_op.drop_constraint('pk_access_logs', type_='primary')
        batch_op.create_primary_key('pk_access_logs', ['resident_id', 'at', 'id'])


def downgrade():
    with op.batch_alter_table('access_logs', schema=None) as batch_op:
        batch_op.drop_constraint('pk_access_logs', type_='primary')
        batch_op.create_primary_key('pk_access_logs', ['id'])
        batch_op.create_index('ix_access_logs_resident_at', ['resident_id', 'at'], unique=False)
