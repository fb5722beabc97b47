"""job runs: the attempt of a day's job, and when a dead run was found

The scheduler retries a failed daily job (database away, a bug) with backoff on the same day,
each try its own row with its attempt number; a run left `running` by a process that died is
marked `abandoned`, with the moment it was found. The (job, run_for) index answers "has this
job succeeded today?", which the scheduler asks at every tick and /healthz/scheduler on every
call.

Revision ID: 0014_job_run_retries
Revises: 0013_resident_group_history
Create Date: 2026-12-02 13:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014_job_run_retries'
down_revision = '0013_resident_group_history'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('abandoned_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_job_runs_job_run_for', ['job', 'run_for'], unique=False)


def downgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_job_run_for')
        batch_op.drop_column('abandoned_at')
        batch_op.drop_column('attempt')
