"""The statistics' reporting tables (backend/stats/rollup.py) on the demo county: every indicator
read from them equals the live computation, they follow each kind of write at the next refresh,
past months stay as reported, and a refresh is never served half-written."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract
from backend.directory.models import Staff, TeamMember
from backend.extensions import db
from backend.followups.models import Condition, FollowUp
from backend.notifications.models import SchedulerLease
from backend.residents.models import STAFF_SET_GROUPS, ResidentGroup
from backend.stats import rollup
from backend.stats.models import StatCell, StatSnapshot
from backend.stats.rollup import plain
from tests.factories import login

COUNTY = "220802000000"
PASSWORD = "jiayi-demo-2025"
ENDPOINTS = ("/stats/contracts", "/stats/chronic", "/stats/teams", "/stats/fulfilment")


@pytest.fixture
def demo(app, client):
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    return login(client, "county-admin", PASSWORD)


def refresh(app, *args) -> dict:
    result = app.test_cli_runner().invoke(args=["rollup", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def get(client, headers, path, **params) -> dict:
    response = client.get(f"/api/v1{path}", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def figures(client, headers, region=COUNTY, **params) -> dict:
    """Every statistic of a region, as served, with where it came from."""
    out = {}
    for path in ENDPOINTS:
        for disease in (("hypertension", "diabetes") if path == "/stats/chronic" else (None,)):
            extra = {"disease": disease} if disease else {}
            out[path + (f":{disease}" if disease else "")] = get(client, headers, path, region_code=region,
                                                                  **extra, **params)
    return out


def assert_served_equals_live(client, headers, region=COUNTY):
    served, live = figures(client, headers, region), figures(client, headers, region, source="live")
    assert {f["source"] for f in served.values()} == {"rollup"}
    assert {f["source"] for f in live.values()} == {"live"}
    assert plain(served) == plain(live)
    return served


def team_member(team_id: str, other_than: str | None = None) -> str:
    return db.session.scalars(
        sa.select(Staff.username).join(TeamMember, TeamMember.staff_id == Staff.id)
        .where(TeamMember.team_id == team_id, Staff.id != (other_than or ""))
        .order_by(Staff.username)).first()


def active_contract(*where) -> Contract:
    statement = sa.select(Contract).where(Contract.status == "active", Contract.region_code.like("220802%"), *where)
    return db.session.scalars(statement.order_by(Contract.id)).first()


def test_every_indicator_at_every_level_and_team_equals_the_live_computation(app, client, demo):
    counts = refresh(app)
    assert counts == {"snapshots": 1, "frozen": rollup.MONTHS_KEPT, "unchanged": 0,
                      "cells": counts["cells"], "dropped": 0}
    assert counts["cells"] > 500
    today = clock.today()
    month_ends = rollup.month_ends_before(today)
    # The county, its city and province, every township and village, every team: today and the
    # month ends the trend and last year's chronic figures read.
    assert rollup.compare(COUNTY, days=[today, month_ends[-1], month_ends[0]]) == []
    assert rollup.compare(COUNTY, days=month_ends[1:-1], deepest="county") == []

    served = assert_served_equals_live(client, demo)
    computed_at = db.session.scalar(sa.select(StatSnapshot.computed_at).where(StatSnapshot.as_of == today))
    assert {datetime.fromisoformat(f["computed_at"]) for f in served.values()} == {computed_at}
    township = db.session.scalar(sa.text("SELECT code FROM regions WHERE level='township' ORDER BY code"))
    assert_served_equals_live(client, demo, township)

    for metric in ("contracted", "coverage_rate", "renewal_rate", "hypertension_standardized_rate",
                   "diabetes_control_rate"):
        series = get(client, demo, "/stats/trend", region_code=COUNTY, metric=metric)
        live = get(client, demo, "/stats/trend", region_code=COUNTY, metric=metric, source="live")
        assert series["source"] == "rollup" and {p["source"] for p in series["points"]} == {"rollup"}
        assert plain(series) == plain(live)
    assert any(p["value"] for p in series["points"])

    # Excel gets the same figures, and the freshness in the headers.
    response = client.get("/api/v1/stats/contracts", query_string={"region_code": COUNTY},
                          headers={**demo, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["X-Stats-Source"] == "rollup"
    assert datetime.fromisoformat(response.headers["X-Computed-At"]) == computed_at
    assert str(served["/stats/contracts"]["contracted"]) in response.get_data(as_text=True)


def test_a_day_without_a_snapshot_is_computed_live(app, client, demo):
    served = figures(client, demo)
    assert {f["source"] for f in served.values()} == {"live"}
    refresh(app)
    yesterday = clock.today() - timedelta(days=1)
    if yesterday == rollup.month_ends_before(clock.today())[-1]:
        yesterday -= timedelta(days=1)
    past = get(client, demo, "/stats/contracts", region_code=COUNTY, as_of=yesterday.isoformat())
    assert past["source"] == "live" and past["as_of"] == yesterday.isoformat()


def test_a_refresh_with_nothing_written_recomputes_nothing(app, demo):
    refresh(app)
    assert refresh(app) == {"snapshots": 0, "frozen": 0, "unchanged": 1, "cells": 0, "dropped": 0}


def _write_follows(app, client, demo, write, changed: tuple[str, ...]):
    refresh(app)
    before = figures(client, demo)
    write()
    stale = figures(client, demo)
    assert plain(stale) == plain(before), "the reporting tables change only at a refresh"
    counts = refresh(app)
    assert counts["snapshots"] == 1 and counts["unchanged"] == 0
    after = assert_served_equals_live(client, demo)
    for name in changed:
        assert plain(after[name]) != plain(before[name]), name
    return before, after


def test_a_sign_up_and_its_approval(app, client, demo):
    contract = db.session.scalars(sa.select(Contract).where(Contract.status == "pending").order_by(Contract.id)).first()
    doctor = login(client, team_member(contract.team_id), PASSWORD)

    def write():
        response = client.post(f"/api/v1/contracts/{contract.id}/approve", json={}, headers=doctor)
        assert response.status_code == 200, response.get_json()

    before, after = _write_follows(app, client, demo, write, ("/stats/contracts", "/stats/teams"))
    assert after["/stats/contracts"]["contracted"] == before["/stats/contracts"]["contracted"] + 1


def test_a_follow_up(app, client, demo):
    # Overdue, and last seen uncontrolled this year: today's controlled visit must move both the
    # team's overdue count and the control count.
    today = clock.today()
    condition = patient_last_seen(False, today.replace(month=1, day=1), today, overdue=True)
    team_id = db.session.scalar(sa.select(Contract.team_id).where(Contract.resident_id == condition.resident_id,
                                                                  Contract.status == "active"))
    doctor = login(client, team_member(team_id), PASSWORD)

    def write():
        response = client.post(f"/api/v1/residents/{condition.resident_id}/follow-ups", headers=doctor, json={
            "disease": "hypertension", "visited_on": clock.today().isoformat(), "method": "clinic",
            "sbp": 128, "dbp": 78, "heart_rate": 72, "medication_adherence": "regular",
            "adverse_reaction": False, "complication": "none", "symptoms": []})
        assert response.status_code == 201, response.get_json()

    # The visit is also a delivery of the contract's follow-up item: today's fulfilment is read
    # from the count the write kept on the item.
    before, after = _write_follows(app, client, demo, write,
                                   ("/stats/chronic:hypertension", "/stats/teams", "/stats/fulfilment"))
    assert after["/stats/teams"] != before["/stats/teams"]


def test_a_termination(app, client, demo):
    contract = active_contract()
    doctor = login(client, team_member(contract.team_id), PASSWORD)

    def write():
        response = client.post(f"/api/v1/contracts/{contract.id}/terminate", json={"reason": "本人要求"},
                               headers=doctor)
        assert response.status_code == 200, response.get_json()

    before, after = _write_follows(app, client, demo, write, ("/stats/contracts", "/stats/fulfilment"))
    assert after["/stats/contracts"]["contracted"] == before["/stats/contracts"]["contracted"] - 1


def test_a_key_group_tag(app, client, demo):
    tagged = sa.select(ResidentGroup.resident_id).where(ResidentGroup.group == "disabled",
                                                        ResidentGroup.removed_on.is_(None))
    resident_id = active_contract(Contract.resident_id.not_in(tagged)).resident_id
    tags = client.get(f"/api/v1/residents/{resident_id}", headers=demo).get_json()["groups"]
    assert "disabled" not in tags

    def write():
        response = client.patch(f"/api/v1/residents/{resident_id}", headers=demo,
                                json={"groups": [g for g in tags if g in STAFF_SET_GROUPS] + ["disabled"]})
        assert response.status_code == 200, response.get_json()

    before, after = _write_follows(app, client, demo, write, ("/stats/contracts",))
    groups = before["/stats/contracts"]["groups"]["disabled"], after["/stats/contracts"]["groups"]["disabled"]
    assert groups[1]["contracted"] == groups[0]["contracted"] + 1


def test_a_moved_away_confirmation(app, client, demo):
    contract = db.session.scalars(
        sa.select(Contract).join(Condition, Condition.resident_id == Contract.resident_id)
        .where(Contract.status == "active", Condition.deregistered_on.is_(None), Condition.disease == "hypertension")
        .order_by(Contract.id)).first()
    caller = team_member(contract.team_id)
    caller_id = db.session.scalar(sa.select(Staff.id).where(Staff.username == caller))
    confirmer = team_member(contract.team_id, other_than=caller_id)

    def write():
        call = client.post(f"/api/v1/residents/{contract.resident_id}/calls", headers=login(client, caller, PASSWORD),
                           json={"outcome": "moved_away", "notes": "已迁往外省"})
        assert call.status_code == 201, call.get_json()
        confirmed = client.post(f"/api/v1/residents/{contract.resident_id}/calls/{call.get_json()['id']}/confirm",
                                headers=login(client, confirmer, PASSWORD), json={"confirm": True})
        assert confirmed.status_code == 200, confirmed.get_json()

    # The condition is deregistered today: it still counts as managed this year, so the chronic
    # figures need not move; the contract and the team's count do.
    before, after = _write_follows(app, client, demo, write, ("/stats/contracts", "/stats/teams"))
    assert after["/stats/contracts"]["contracted"] == before["/stats/contracts"]["contracted"] - 1


def patient_last_seen(controlled: bool, year_from: date, before: date, overdue: bool = False) -> Condition:
    """A contracted hypertension patient registered before ``before``'s month whose latest visit
    from ``year_from`` up to ``before`` (not on it or the day before) was controlled, or not: a
    visit of the other kind after it must move the control count. ``overdue``: and due before
    ``before``."""
    latest = sa.select(FollowUp.condition_id, sa.func.max(FollowUp.visited_on).label("day")) \
        .where(FollowUp.visited_on >= year_from, FollowUp.visited_on <= before) \
        .group_by(FollowUp.condition_id).subquery()
    below = sa.and_(FollowUp.sbp < 140, FollowUp.dbp < 90)
    return db.session.scalars(
        sa.select(Condition).join(Contract, sa.and_(Contract.resident_id == Condition.resident_id,
                                                    Contract.status == "active"))
        .join(latest, latest.c.condition_id == Condition.id)
        .join(FollowUp, sa.and_(FollowUp.condition_id == Condition.id, FollowUp.visited_on == latest.c.day))
        .where(Condition.disease == "hypertension", Condition.deregistered_on.is_(None),
               Condition.registered_on < before.replace(day=1), latest.c.day < before - timedelta(days=1),
               below if controlled else sa.not_(below),
               Condition.next_due_on < before if overdue else sa.true())
        .order_by(Condition.id)).first()


def test_a_correction_of_a_past_month_leaves_the_reported_month_until_a_rebuild(app, client, demo):
    refresh(app)
    month_end = rollup.month_ends_before(clock.today())[-1]
    reported = get(client, demo, "/stats/chronic", region_code=COUNTY, as_of=month_end.isoformat())
    assert reported["source"] == "rollup"
    # A visit of last month entered late: the reported month stays as it was reported.
    # A patient whose latest visit of the year so far was controlled: a later visit at 170/100
    # makes them uncontrolled on the month end, so the live control count must move.
    condition = patient_last_seen(True, month_end.replace(month=1, day=1), month_end)
    team_id = db.session.scalar(sa.select(Contract.team_id).where(Contract.resident_id == condition.resident_id,
                                                                  Contract.status == "active"))
    doctor = login(client, team_member(team_id), PASSWORD)
    response = client.post(f"/api/v1/residents/{condition.resident_id}/follow-ups", headers=doctor, json={
        "disease": "hypertension", "visited_on": (month_end - timedelta(days=1)).isoformat(), "method": "home",
        "sbp": 170, "dbp": 100, "heart_rate": 80, "medication_adherence": "regular",
        "adverse_reaction": False, "complication": "none", "symptoms": []})
    assert response.status_code == 201, response.get_json()

    counts = refresh(app)
    assert counts["snapshots"] == 1 and counts["frozen"] == 0
    frozen = get(client, demo, "/stats/chronic", region_code=COUNTY, as_of=month_end.isoformat())
    live = get(client, demo, "/stats/chronic", region_code=COUNTY, as_of=month_end.isoformat(), source="live")
    assert plain(frozen) == plain(reported) and frozen["computed_at"] == reported["computed_at"]
    assert plain(live) != plain(reported)

    counts = refresh(app, "--full")
    assert counts["frozen"] == rollup.MONTHS_KEPT and counts["snapshots"] == 1
    rebuilt = get(client, demo, "/stats/chronic", region_code=COUNTY, as_of=month_end.isoformat())
    assert rebuilt["source"] == "rollup" and plain(rebuilt) == plain(live)


def test_a_refresh_back_dated_to_yesterday_counts_what_was_delivered_by_then(app, client, demo):
    """Today's fulfilment is read from the counts the writes keep on the items (the term's
    deliveries). A run back-dated to yesterday (``run-job --now``) finds today's visit dated
    after its day and counts the deliveries up to yesterday instead."""
    condition = patient_last_seen(False, clock.today().replace(month=1, day=1), clock.today())
    team_id = db.session.scalar(sa.select(Contract.team_id).where(Contract.resident_id == condition.resident_id,
                                                                  Contract.status == "active"))
    doctor = login(client, team_member(team_id), PASSWORD)
    response = client.post(f"/api/v1/residents/{condition.resident_id}/follow-ups", headers=doctor, json={
        "disease": "hypertension", "visited_on": clock.today().isoformat(), "method": "clinic",
        "sbp": 128, "dbp": 78})
    assert response.status_code == 201, response.get_json()
    with clock.frozen_at(clock.now() - timedelta(days=1)):
        counts = refresh(app)
        assert counts["snapshots"] == 1
        served = assert_served_equals_live(client, demo)
    today = refresh(app)
    assert today["snapshots"] == 1
    assert plain(assert_served_equals_live(client, demo)["/stats/fulfilment"]) != plain(served["/stats/fulfilment"])


def test_the_month_end_is_frozen_at_the_first_refresh_after_it(app, client, demo):
    today = clock.today()
    refresh(app)
    with clock.frozen_at(clock.now() + timedelta(days=40)):
        later = clock.today()
        counts = refresh(app)
        assert counts["snapshots"] == 1
        ends = rollup.month_ends_before(later)
        assert counts["frozen"] == len(set(ends) - set(rollup.month_ends_before(today)))
        kept = {s.as_of: s.frozen for s in db.session.scalars(sa.select(StatSnapshot))}
        assert kept == {**{d: True for d in ends}, later: False}, "days no longer kept are dropped"


def test_a_refresh_killed_midway_leaves_the_previous_snapshot_served(app, client, demo, monkeypatch):
    refresh(app)
    before = figures(client, demo)
    today = clock.today()
    cells = db.session.scalar(sa.select(sa.func.count()).select_from(StatCell).where(StatCell.as_of == today))
    contract = active_contract()
    doctor = login(client, team_member(contract.team_id), PASSWORD)
    assert client.post(f"/api/v1/contracts/{contract.id}/terminate", json={"reason": "本人要求"},
                       headers=doctor).status_code == 200

    def dies(snapshot):  # the process dies after the new cells are written, before the snapshot's row
        raise KeyboardInterrupt

    monkeypatch.setattr(rollup, "_record", dies)
    with pytest.raises(KeyboardInterrupt):
        rollup.refresh()
    monkeypatch.undo()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatCell).where(StatCell.as_of == today)) == cells
    assert plain(figures(client, demo)) == plain(before)
    # The lock went with it: the next refresh runs and serves the termination.
    assert refresh(app)["snapshots"] == 1
    assert assert_served_equals_live(client, demo)["/stats/contracts"]["contracted"] == \
        before["/stats/contracts"]["contracted"] - 1


def test_two_refreshes_at_once_one_does_the_work(app, monkeypatch):
    app.test_cli_runner().invoke(args=["demo-data"])
    started, go = threading.Event(), threading.Event()
    real = rollup.compute_cells

    def slow(county, day):
        started.set()
        go.wait(30)
        return real(county, day)

    monkeypatch.setattr(rollup, "compute_cells", slow)
    results = {}

    def first():
        with app.app_context():
            results["first"] = rollup.refresh()

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(60)
    with app.app_context():
        results["second"] = rollup.refresh()
        busy = app.test_cli_runner().invoke(args=["rollup"])
    go.set()
    thread.join(120)
    assert results["second"] == {"skipped": 1}
    assert busy.exit_code != 0 and "another refresh" in busy.output
    assert results["first"]["snapshots"] == 1 and results["first"]["frozen"] == rollup.MONTHS_KEPT


def test_a_lease_left_by_a_dead_refresh_expires(app, demo):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's advisory lock goes with the dead process's connection")
    db.session.add(SchedulerLease(name="rollup", holder="rollup:dead", expires_at=clock.utcnow() + timedelta(minutes=5)))
    db.session.commit()
    assert rollup.refresh() == {"skipped": 1}
    db.session.execute(sa.update(SchedulerLease).where(SchedulerLease.name == "rollup")
                       .values(expires_at=clock.utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert rollup.refresh()["snapshots"] == 1


def test_bad_input_and_permissions(app, client, demo):
    response = client.get("/api/v1/stats/contracts", query_string={"source": "cached"}, headers=demo)
    assert response.status_code == 422 and "source" in json.dumps(response.get_json())
    result = app.test_cli_runner().invoke(args=["rollup", "--region-code", "2208"])
    assert result.exit_code != 0 and "12-digit" in result.output
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(StatSnapshot))
    doctor = login(client, "t01-doctor1", PASSWORD)
    assert client.get("/api/v1/stats/contracts", query_string={"source": "live"}, headers=doctor).status_code == 403
    refresh(app, "--region-code", "220800000000")
    outside = login(client, "t01-admin", PASSWORD)  # an institution admin: its own area only
    assert client.get("/api/v1/stats/contracts", query_string={"region_code": COUNTY},
                      headers=outside).status_code == 403


def test_an_admin_of_the_whole_database_starts_at_the_province_read_from_the_tables(app, client, demo):
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "province-chief", "--password",
                                                PASSWORD, "--name", "省卫健委统计"])
    assert result.exit_code == 0, result.output
    chief = login(client, "province-chief", PASSWORD)
    refresh(app)
    province = get(client, chief, "/stats/contracts")
    assert province["region"] == {"code": "220000000000", "name": "吉林省", "level": "province"}
    assert province["source"] == "rollup"
    assert [c["region"]["code"] for c in province["children"]] == ["220800000000"]
    county = get(client, demo, "/stats/contracts")
    assert (province["contracted"], province["population"]) == (county["contracted"], county["population"])
