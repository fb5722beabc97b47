"""import runs: the audit trail of imports and the rows each refused

Every import of a county's file, uploaded through POST /admin/imports or run by the command
line, is recorded: who imported which file, when, into which region, with what counts; its
refused rows (masked values) are the report the importer downloads.

Revision ID: 0018_import_runs
Revises: 0017_sync
Create Date: 2026-12-03 17:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0018_import_runs"
down_revision = "0017_sync"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_runs',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('submitted_by_id', sa.String(length=36), nullable=True),
    sa.Column('institution_id', sa.String(length=36), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rows_estimated', sa.Integer(), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('already_on_file', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('unknown_columns', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_import_runs_institution_id_institutions')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['staff.id'], name=op.f('fk_import_runs_submitted_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.create_index('ix_import_runs_created', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_runs_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_runs_submitted_by_id'), ['submitted_by_id'], unique=False)

    op.create_table('import_rejections',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('column', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['import_runs.id'], name=op.f('fk_import_rejections_run_id_import_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'seq', name=op.f('pk_import_rejections'))
    )


def downgrade():
    op.drop_table('import_rejections')
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_runs_submitted_by_id'))
        batch_op.drop_index(batch_op.f('ix_import_runs_institution_id'))
        batch_op.drop_index('ix_import_runs_created')

    op.drop_table('import_runs')
