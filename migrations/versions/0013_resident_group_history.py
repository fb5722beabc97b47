"""resident groups: staff-set tags keep the days they were in force

Statistics for a past day (key-group rates as of a date) counted the tags staff set as they are
today: a resident tagged pregnant in March and untagged in November left March's figures. A tag
is now a period, from set_on up to the day before removed_on (null while in force), keyed by
(resident, group, set_on) so that a tag removed and set again opens a new period; a partial
unique index keeps one period open per resident and group.

The tags stored before have no date. Each gets the civil (Asia/Shanghai) date its resident was
registered: no tag is older than the record it is on, and a contract starts no earlier than it
was applied for, for a resident already on file, so the key-group figures of past days stay what
they were. A tag removed before this revision was deleted then and cannot be recovered.
Asia/Shanghai has been UTC+8 without daylight saving since 1991, so SQLite, which has no time
zones, adds eight hours to the stored UTC moment.

Downgrading forgets the periods already closed.

Revision ID: 0013_resident_group_history
Revises: 0012_resident_phone_shown
Create Date: 2026-11-27 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013_resident_group_history'
down_revision = '0012_resident_phone_shown'
branch_labels = None
depends_on = None

_OPEN = sa.text('removed_on IS NULL')


def upgrade():
    with op.batch_alter_table('resident_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('set_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('removed_on', sa.Date(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""UPDATE resident_groups g
                      SET set_on = CAST(r.created_at AT TIME ZONE 'UTC' AT TIME ZONE 'Asia/Shanghai' AS DATE)
                      FROM residents r WHERE r.id = g.resident_id""")
    else:
        op.execute("""UPDATE resident_groups
                      SET set_on = (SELECT date(r.created_at, '+8 hours') FROM residents r
                                    WHERE r.id = resident_groups.resident_id)""")
    with op.batch_alter_table('resident_groups', schema=None) as batch_op:
        batch_op.alter_column('set_on', existing_type=sa.Date(), nullable=False)
        batch_op.drop_constraint('pk_resident_groups', type_='primary')
        batch_op.create_primary_key('pk_resident_groups', ['resident_id', 'group', 'set_on'])
    op.create_index('uq_resident_groups_current', 'resident_groups', ['resident_id', 'group'], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade():
    op.drop_index('uq_resident_groups_current', table_name='resident_groups',
                  sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.execute('DELETE FROM resident_groups WHERE removed_on IS NOT NULL')
    with op.batch_alter_table('resident_groups', schema=None) as batch_op:
        batch_op.drop_constraint('pk_resident_groups', type_='primary')
        batch_op.create_primary_key('pk_resident_groups', ['resident_id', 'group'])
        batch_op.drop_column('removed_on')
        batch_op.drop_column('set_on')
