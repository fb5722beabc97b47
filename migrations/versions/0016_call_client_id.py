"""calls take a client id

A call recorded on a phone without signal is sent later, perhaps twice: the client chooses its
id, and calls.body_hash (the fingerprint of the request) tells a resend, answered with the
stored call, from another call under the same id. Calls stored before have none.

Revision ID: 0016_call_client_id
Revises: 0015_national_forms
Create Date: 2026-12-03 17:06:09.909047

"""
import sqlalchemy as sa
from alembic import op

revision = "0016_call_client_id"
down_revision = "0015_national_forms"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("body_hash")
