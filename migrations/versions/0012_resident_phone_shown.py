"""residents: the masked phone beside the encrypted one

Lists show a resident's phone masked (139****5678). Kept in a column of its own, a list of fifty
no longer decrypts fifty numbers to mask them; the number itself stays encrypted. Filled here
for the residents stored before, from their decrypted phones.

Revision ID: 0012_resident_phone_shown
Revises: 0011_access_log_by_resident
Create Date: 2026-11-26 16:10:00

"""
import sqlalchemy as sa
from alembic import op

from backend.security.fields import cipher
from backend.security.masking import mask_phone

revision = '0012_resident_phone_shown'
down_revision = '0011_access_log_by_resident'
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade():
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_shown', sa.String(length=20), nullable=True))
    connection = op.get_bind()
    residents = sa.table('residents', sa.column('id'), sa.column('phone_enc'), sa.column('phone_shown'))
    fill = sa.update(residents).where(residents.c.id == sa.bindparam('rid')) \
        .values(phone_shown=sa.bindparam('shown'))
    after = ''
    while True:
        rows = connection.execute(
            sa.select(residents.c.id, residents.c.phone_enc)
            .where(residents.c.phone_enc.is_not(None), residents.c.id > after)
            .order_by(residents.c.id).limit(_BATCH)).all()
        if not rows:
            break
        connection.execute(fill, [{'rid': rid, 'shown': mask_phone(cipher().decrypt(token))} for rid, token in rows])
        after = rows[-1].id


def downgrade():
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('phone_shown')
