"""Where statements run on PostgreSQL: the due list and the visit on the pool whose connections
plan each statement once (the due list with each statement committing on its own), everything
else on the main pool, planned with its values."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import GENERIC_PLANS, db, plan_generically
from backend.security.models import AccessLog
from tests.conftest import DATABASE_URL
from tests.factories import VILLAGE_A1, add_resident, id_number_for

pytestmark = pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                                reason="the second pool and its plans are PostgreSQL's")


@pytest.fixture
def statements(app):
    """(pool, autocommit, first words) of each statement run from here on."""
    seen: list[tuple[str, bool, str]] = []
    listeners = []
    for name, engine in (("main", db.engines[None]), ("generic", db.engines[GENERIC_PLANS])):
        def before(conn, cursor, statement, parameters, context, executemany, name=name):
            seen.append((name, conn.connection.dbapi_connection.autocommit, " ".join(statement.split()[:3])))
        sa.event.listen(engine, "before_cursor_execute", before)
        listeners.append((engine, before))
    yield seen
    for engine, before in listeners:
        sa.event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def patient(client, county):
    clock.freeze(clock.parse_moment("2026-03-02T09:00:00+08:00"))
    resident_id = add_resident("高玉兰", id_number_for(date(1956, 1, 20), 262), "13900001111", VILLAGE_A1).id
    doctor = county.headers(client, "doctor_a")
    assert client.post(f"/api/v1/residents/{resident_id}/conditions", headers=doctor, json={
        "disease": "hypertension", "diagnosed_on": "2020-05-01", "registered_on": "2025-01-01"}).status_code == 201
    db.session.close()  # the request starts with no transaction of the test's open
    return resident_id, doctor


def pools(seen) -> set[tuple[str, bool]]:
    return {(pool, autocommit) for pool, autocommit, _ in seen}


def test_the_due_list_runs_on_the_generic_pool_each_statement_committing(client, patient, statements):
    resident_id, doctor = patient
    response = client.get("/api/v1/follow-ups/due?scope=team&window=overdue", headers=doctor)
    assert response.status_code == 200
    assert [item["resident"]["id"] for item in response.get_json()["items"]] == [resident_id]
    assert pools(statements) == {("generic", True)}
    assert [words for _, _, words in statements] == ["SELECT staff.id, staff.name,", "WITH shown AS"]
    # The page's log is committed with it: another connection sees it.
    with db.engines[None].connect() as other:
        logged = other.execute(sa.select(sa.func.count()).select_from(AccessLog).where(
            AccessLog.resident_id == resident_id, AccessLog.action == "GET /api/v1/follow-ups/due")).scalar()
    assert logged == 1


def test_a_visit_runs_on_the_generic_pool_in_one_transaction(client, patient, statements):
    resident_id, doctor = patient
    response = client.post(f"/api/v1/residents/{resident_id}/follow-ups", headers=doctor, json={
        "disease": "hypertension", "visited_on": "2026-03-02", "method": "clinic", "sbp": 150, "dbp": 92})
    assert response.status_code == 201
    assert pools(statements) == {("generic", False)}
    assert {"INSERT INTO follow_ups", "UPDATE conditions SET"} <= {words for _, _, words in statements}


def test_other_routes_stay_on_the_main_pool(client, patient, statements):
    resident_id, doctor = patient
    assert client.get(f"/api/v1/residents/{resident_id}", headers=doctor).status_code == 200
    assert client.get(f"/api/v1/residents/{resident_id}/follow-ups", headers=doctor).status_code == 200
    assert statements and pools(statements) == {("main", False)}


def test_the_pools_plan_differently(app):
    modes = {}
    for key in (None, GENERIC_PLANS):
        with db.engines[key].connect() as connection:
            modes[key] = connection.execute(sa.text("SHOW plan_cache_mode")).scalar()
    assert modes == {None: "force_custom_plan", GENERIC_PLANS: "force_generic_plan"}


def test_neither_pool_compiles_statements_to_machine_code(app):
    """JIT compiling cost the county statistics 0.3-0.45 s a statement, more than it saved."""
    for key in (None, GENERIC_PLANS):
        with db.engines[key].connect() as connection:
            assert connection.execute(sa.text("SHOW jit")).scalar() == "off", key


def test_a_session_already_in_a_transaction_stays_on_its_pool(app):
    with app.test_request_context():
        db.session.execute(sa.text("SELECT 1"))
        plan_generically()
        assert db.session.get_bind() is db.engines[None]
        db.session.rollback()
    with app.test_request_context():
        plan_generically()
        assert db.session.get_bind() is db.engines[GENERIC_PLANS]
