"""access log without a foreign key to residents

Each row of the access log names a resident that was just read; the key added nothing but a
lock on every resident row of every list read (and a check per row).

Revision ID: 0009_access_log_without_key
Revises: 0008_fulfilment
Create Date: 2026-11-26 12:50:00

"""
from alembic import op


revision = '0009_access_log_without_key'
down_revision = '0008_fulfilment'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('access_logs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_access_logs_resident_id_residents', type_='foreignkey')


def downgrade():
    with op.batch_alter_table('access_logs', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_access_logs_resident_id_residents', 'residents', ['resident_id'], ['id'])
