"""Data migrations: what an upgrade does to rows written before it (on a database of its own)."""
from __future__ import annotations

import contextlib
from datetime import date

import sqlalchemy as sa
from flask_migrate import upgrade

from backend.extensions import db, dispose_engines
from tests.conftest import make_app

PACKAGE_ITEMS = ('[{"code": "health_education", "name": "健康教育", "per_year": 2, "eligible_groups": []},'
                 ' {"code": "bp_follow_up", "name": "高血压随访", "per_year": 4, "eligible_groups": ["hypertension"],'
                 '  "follow_up_disease": "hypertension"},'
                 ' {"code": "health_check_65", "name": "老年人体检", "per_year": 1, "eligible_groups": ["elderly_65"]}]')


@contextlib.contextmanager
def database_at(tmp_path, revision: str):
    """A database of its own, migrated up to ``revision``, for the block to fill and migrate on."""
    app = make_app(env={"JIAYI_DATABASE_URL": f"sqlite:///{tmp_path / 'old.sqlite3'}"})
    with app.app_context():
        upgrade(revision=revision)
        try:
            yield
        finally:
            db.session.remove()
            dispose_engines()


def test_contracts_signed_before_fulfilment_owe_their_packages_items(tmp_path):
    with database_at(tmp_path, "0007_region_copies"):
        run = lambda sql, **p: db.session.execute(sa.text(sql), p)  # noqa: E731
        run("INSERT INTO regions (code, name, level) VALUES ('220802100001', '平安村', 'village')")
        run("""INSERT INTO service_packages (id, code, name, kind, price_fen, public_health_fen, insurance_fen,
               self_pay_fen, items, eligible_groups, active, created_at, updated_at)
               VALUES ('p1', 'basic', '基础包', 'basic', 0, 0, 0, 0, :items, '[]', 1, :t, :t)""",
            items=PACKAGE_ITEMS, t="2026-01-01 00:00:00")
        for rid, born in (("old", date(1950, 1, 1)), ("young", date(1990, 1, 1))):
            run("""INSERT INTO residents (id, name, id_number_enc, id_number_index, birth_date, sex, region_code,
                   source, created_at, updated_at) VALUES (:id, 'x', 'enc', :id, :born, 'male', '220802100001',
                   'staff', :t, :t)""", id=rid, born=born, t="2026-01-01 00:00:00")
            run("""INSERT INTO contracts (id, resident_id, team_id, status, created_by_kind, created_by_id, price_fen,
                   public_health_fen, insurance_fen, self_pay_fen, created_at, updated_at)
                   VALUES (:c, :r, 'team', 'pending', 'staff', 's', 0, 0, 0, 0, :t, :t)""",
                c="c-" + rid, r=rid, t="2026-01-01 00:00:00")
            run("""INSERT INTO contract_packages (contract_id, package_code, name, kind, price_fen, public_health_fen,
                   insurance_fen, self_pay_fen) VALUES (:c, 'basic', '基础包', 'basic', 0, 0, 0, 0)""", c="c-" + rid)
        run("""INSERT INTO conditions (id, resident_id, disease, diagnosed_on, registered_on, next_due_on, urgent,
               created_at, updated_at) VALUES ('k1', 'old', 'hypertension', '2020-01-01', '2020-01-01', '2026-02-01',
               0, :t, :t)""", t="2026-01-01 00:00:00")
        db.session.commit()

        upgrade(revision="0008_fulfilment")
        owed = db.session.execute(sa.text(
            "SELECT contract_id, code, owed, follow_up_disease FROM contract_items ORDER BY contract_id, code")).all()
    assert [tuple(r) for r in owed] == [
        ("c-old", "bp_follow_up", 4, "hypertension"), ("c-old", "health_check_65", 1, None),
        ("c-old", "health_education", 2, None), ("c-young", "health_education", 2, None)]


def test_contracts_signed_before_the_most_owed_column_get_their_items_largest(tmp_path):
    with database_at(tmp_path, "0020_contract_items_owed"):
        run = lambda sql, **p: db.session.execute(sa.text(sql), p)  # noqa: E731
        for cid, owed in (("patient", (4, 1, 2)), ("plain", (2,)), ("bare", ())):
            run("""INSERT INTO contracts (id, resident_id, team_id, status, created_by_kind, created_by_id, price_fen,
                   public_health_fen, insurance_fen, self_pay_fen, created_at, updated_at)
                   VALUES (:c, :c, 'team', 'active', 'staff', 's', 0, 0, 0, 0, :t, :t)""", c=cid, t="2026-01-01 00:00:00")
            for n, count in enumerate(owed):
                run("""INSERT INTO contract_items (contract_id, code, name, owed, health_check)
                       VALUES (:c, :code, 'x', :owed, 0)""", c=cid, code=f"item{n}", owed=count)
        db.session.commit()

        upgrade(revision="0021_contract_most_owed")
        most = dict(db.session.execute(sa.text("SELECT id, most_owed FROM contracts")).all())
    # A contract without items keeps none: the work list then reads its (absent) items.
    assert most == {"patient": 4, "plain": 2, "bare": None}


def test_residents_stored_before_the_masked_phone_column_get_theirs(tmp_path):
    from backend.security.fields import cipher

    with database_at(tmp_path, "0011_access_log_by_resident"):
        for rid, phone in (("with", "13912345678"), ("without", None)):
            db.session.execute(sa.text(
                """INSERT INTO residents (id, name, id_number_enc, id_number_index, phone_enc, birth_date, sex,
                   source, phone_wrong, created_at, updated_at)
                   VALUES (:id, 'x', 'enc', :id, :phone, '1950-01-01', 'male', 'staff', 0, :t, :t)"""),
                {"id": rid, "phone": phone and cipher().encrypt(phone), "t": "2026-01-01 00:00:00"})
        db.session.commit()

        upgrade(revision="0012_resident_phone_shown")
        shown = dict(db.session.execute(sa.text("SELECT id, phone_shown FROM residents")).all())
    assert shown == {"with": "139****5678", "without": None}


def test_tags_stored_before_their_history_start_on_the_civil_day_their_resident_was_registered(tmp_path):
    with database_at(tmp_path, "0012_resident_phone_shown"):
        # 17:30 UTC is half past one the next morning in Asia/Shanghai.
        for rid, registered in (("evening", "2026-03-01 17:30:00"), ("afternoon", "2026-03-01 15:30:00")):
            db.session.execute(sa.text(
                """INSERT INTO residents (id, name, id_number_enc, id_number_index, birth_date, sex, source,
                   phone_wrong, created_at, updated_at)
                   VALUES (:id, 'x', 'enc', :id, '1990-01-01', 'female', 'staff', 0, :t, :t)"""),
                {"id": rid, "t": registered})
            db.session.execute(sa.text("INSERT INTO resident_groups (resident_id, \"group\") VALUES (:id, 'pregnant')"),
                               {"id": rid})
        db.session.commit()

        upgrade(revision="0013_resident_group_history")
        periods = db.session.execute(sa.text(
            'SELECT resident_id, "group", set_on, removed_on FROM resident_groups ORDER BY resident_id')).all()
    assert [tuple(p) for p in periods] == [("afternoon", "pregnant", "2026-03-01", None),
                                           ("evening", "pregnant", "2026-03-02", None)]


def test_the_upgrade_s_count_of_what_each_item_delivered_equals_the_count_the_writes_keep(app):
    """Migration 0022 counts what each item of the active contracts delivered in plain SQL (on
    both databases), and a bulk load in one grouped statement; on the demo county, from nothing,
    each gives what the writes keep."""
    import importlib.util
    from pathlib import Path

    from backend import clock
    from backend.fulfilment.progress import count_delivered

    spec = importlib.util.spec_from_file_location(
        "m0022", Path(__file__).parent.parent / "migrations/versions/0022_contract_item_delivered.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert app.test_cli_runner().invoke(args=["demo-data"]).exit_code == 0
    kept = ("SELECT contract_id, code, delivered FROM contract_items WHERE contract_id IN "
            "(SELECT id FROM contracts WHERE status = 'active') ORDER BY contract_id, code")
    before = db.session.execute(sa.text(kept)).all()
    assert sum(r.delivered for r in before) > 1000
    db.session.execute(sa.text("UPDATE contract_items SET delivered = 0"))
    db.session.execute(sa.text(migration.COUNT_DELIVERED))
    assert db.session.execute(sa.text(kept)).all() == before
    db.session.rollback()
    # And so does the grouped count a bulk load runs (bench/generate).
    db.session.execute(sa.text("UPDATE contract_items SET delivered = 0"))
    db.session.execute(count_delivered(clock.today()))
    assert db.session.execute(sa.text(kept)).all() == before
    db.session.rollback()
