"""fulfilment: contract items, service deliveries, calls, and a wrong-phone flag

Revision ID: 0008_fulfilment
Revises: 0007_region_copies
Create Date: 2026-11-26 09:54:26.834169

"""
import json
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_fulfilment'
down_revision = '0007_region_copies'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calls',
    sa.Column('resident_id', sa.String(length=36), nullable=False),
    sa.Column('team_id', sa.String(length=36), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('notes', sa.String(length=500), nullable=True),
    sa.Column('called_at', sa.DateTime(), nullable=False),
    sa.Column('called_by_id', sa.String(length=36), nullable=False),
    sa.Column('confirmation', sa.String(length=10), nullable=True),
    sa.Column('confirmed_by_id', sa.String(length=36), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['called_by_id'], ['staff.id'], name=op.f('fk_calls_called_by_id_staff')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['staff.id'], name=op.f('fk_calls_confirmed_by_id_staff')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_calls_resident_id_residents')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_calls_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_resident_called', ['resident_id', 'called_at'], unique=False)

    op.create_table('service_deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('resident_id', sa.String(length=36), nullable=False),
    sa.Column('item_code', sa.String(length=32), nullable=False),
    sa.Column('delivered_on', sa.Date(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('notes', sa.String(length=500), nullable=True),
    sa.Column('recorded_by_id', sa.String(length=36), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['staff.id'], name=op.f('fk_service_deliveries_recorded_by_id_staff')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_service_deliveries_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_deliveries'))
    )
    with op.batch_alter_table('service_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_service_deliveries_resident_item_day', ['resident_id', 'item_code', 'delivered_on'], unique=False)

    op.create_table('contract_items',
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('owed', sa.Integer(), nullable=False),
    sa.Column('follow_up_disease', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_contract_items_contract_id_contracts')),
    sa.PrimaryKeyConstraint('contract_id', 'code', name=op.f('pk_contract_items'))
    )
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_wrong', sa.Boolean(), server_default=sa.false(), nullable=False))

    _owe_existing_contracts()


def _day(value):
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _json(value):
    return json.loads(value) if isinstance(value, str) else (value or [])


def _owe_existing_contracts():
    """Contracts signed before this revision owe their packages' items too: those for everyone
    and for the groups the resident is in today (the day of the upgrade), each item once at its
    largest count, as a contract signed from now on."""
    bind = op.get_bind()
    today = date.today()
    try:
        elderly_born_by, child_born_after = today.replace(year=today.year - 65), today.replace(year=today.year - 7)
    except ValueError:  # 29 February
        elderly_born_by, child_born_after = date(today.year - 65, 2, 28), date(today.year - 7, 2, 28)
    packages = {code: _json(items) for code, items in bind.execute(sa.text("SELECT code, items FROM service_packages"))}
    births = {rid: _day(born) for rid, born in bind.execute(sa.text("SELECT id, birth_date FROM residents"))}
    groups = {}
    for rid, group in bind.execute(sa.text('SELECT resident_id, "group" FROM resident_groups')):
        groups.setdefault(rid, set()).add(group)
    for rid, disease in bind.execute(sa.text(
            "SELECT resident_id, disease FROM conditions WHERE deregistered_on IS NULL")):
        groups.setdefault(rid, set()).add(disease)
    signed = {}
    for contract_id, resident_id, code in bind.execute(sa.text(
            "SELECT c.id, c.resident_id, p.package_code FROM contracts c "
            "JOIN contract_packages p ON p.contract_id = c.id")):
        signed.setdefault((contract_id, resident_id), []).append(code)
    rows = []
    for (contract_id, resident_id), codes in signed.items():
        mine = set(groups.get(resident_id, ()))
        born = births.get(resident_id)
        if born is not None and born <= elderly_born_by:
            mine.add("elderly_65")
        if born is not None and born > child_born_after:
            mine.add("child_0_6")
        owed = {}
        for code in codes:
            for item in packages.get(code, []):
                eligible = item.get("eligible_groups") or []
                per_year = item.get("per_year", 1)
                if (eligible and not mine.intersection(eligible)) or per_year <= 0:
                    continue
                if item["code"] not in owed or per_year > owed[item["code"]]["owed"]:
                    owed[item["code"]] = {"contract_id": contract_id, "code": item["code"], "name": item["name"],
                                          "owed": per_year, "follow_up_disease": item.get("follow_up_disease")}
        rows += owed.values()
    table = sa.table('contract_items', sa.column('contract_id', sa.String), sa.column('code', sa.String),
                     sa.column('name', sa.String), sa.column('owed', sa.Integer),
                     sa.column('follow_up_disease', sa.String))
    for start in range(0, len(rows), 5000):
        op.bulk_insert(table, rows[start:start + 5000])



def downgrade():
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('phone_wrong')

    op.drop_table('contract_items')
    with op.batch_alter_table('service_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_service_deliveries_resident_item_day')

    op.drop_table('service_deliveries')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_resident_called')

    op.drop_table('calls')
