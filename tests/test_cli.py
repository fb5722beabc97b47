"""Operator commands, run as `flask --app wsgi ...` would run them."""
from __future__ import annotations

import json

import sqlalchemy as sa

from backend.cli import OPENAPI_FILE, openapi_text
from backend.directory.models import Institution, Population, Region, ServicePackage, Staff, Team, TeamMember
from backend.contracts.models import Contract
from backend import clock
from backend.followups.models import Condition, FollowUp
from backend.notifications.models import SubscriptionCredit
from backend.residents.models import Account, AccountResident, Resident, ResidentGroup
from backend.extensions import db, on_postgresql
from tests.factories import login


def counts() -> dict:
    return {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (Region, Institution, Staff, Team, TeamMember, ServicePackage, Population, Resident,
                      ResidentGroup, Account, AccountResident)}


def test_create_admin_makes_a_county_admin_who_can_log_in(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "chief", "--password",
                                                "a-long-password", "--name", "局长"])
    assert result.exit_code == 0, result.output
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == "chief"))
    assert staff.roles == ["county_admin"] and staff.region_code is None
    me = client.get("/api/v1/me", headers=login(client, "chief", "a-long-password")).get_json()
    assert me["roles"] == ["county_admin"]


def test_create_admin_refuses_a_short_password_and_a_taken_username(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["create-admin", "--username", "chief", "--password", "short", "--name", "x"])
    assert short.exit_code != 0 and "10" in short.output
    runner.invoke(args=["create-admin", "--username", "chief", "--password", "a-long-password", "--name", "x"])
    again = runner.invoke(args=["create-admin", "--username", "chief", "--password", "a-long-password", "--name", "x"])
    assert again.exit_code != 0 and "already exists" in again.output
    assert counts()["staff"] == 1


def test_demo_data_builds_the_county_and_prints_logins_that_work(app, client, wechat):
    result = app.test_cli_runner().invoke(args=["demo-data", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "county-admin" in result.output and "jiayi-demo-2025" in result.output
    headers = login(client, "county-admin", "jiayi-demo-2025")
    assert client.get("/api/v1/me", headers=headers).get_json()["region_code"] == "220802000000"
    townships = client.get("/api/v1/regions?parent=220802000000&page_size=100").get_json()
    assert townships["total"] >= 8
    village = client.get(f"/api/v1/regions?parent={townships['items'][3]['code']}").get_json()["items"][0]
    teams = client.get(f"/api/v1/teams?region_code={village['code']}").get_json()["items"]
    assert teams and all(t["capacity"] > 0 and t["leader"] for t in teams)
    kinds = {p["kind"] for p in client.get("/api/v1/service-packages").get_json()["items"]}
    assert kinds == {"basic", "personalized"}
    assert counts()["populations"] > 0
    assert counts()["residents"] >= 2000 and counts()["accounts"] > 0
    # The printed mini-program code logs a family in through (a stand-in of) WeChat.
    wechat.accept_demo_codes("demo-")
    code = next(line.split()[1] for line in result.output.splitlines() if line.strip().startswith("code "))
    signed_in = client.post("/api/v1/auth/wechat/login", json={"code": code})
    assert signed_in.status_code == 200
    family = signed_in.get_json()["account"]["residents"]
    assert len(family) >= 2 and family[0]["relation"] == "self"
    assert all("*" in r["id_number"] for r in family)


def test_demo_contracts_look_like_a_county(app, client):
    app.test_cli_runner().invoke(args=["demo-data"])
    statuses = dict(db.session.execute(
        sa.select(Contract.status, sa.func.count()).group_by(Contract.status)).all())
    residents = counts()["residents"]
    assert 0.55 <= statuses["active"] / residents <= 0.70
    assert statuses["pending"] > 0 and statuses["expired"] > 0 and statuses["terminated"] > 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contract).where(Contract.renewal_of.is_not(None))) > 0
    headers = login(client, "t03-doctor1", "jiayi-demo-2025")
    team_id = client.get("/api/v1/me", headers=headers).get_json()["team_ids"][0]
    for status in ("pending", "expiring", "active"):
        listed = client.get(f"/api/v1/teams/{team_id}/contracts?status={status}", headers=headers).get_json()
        assert listed["total"] > 0, status


def test_demo_patients_have_a_year_of_follow_ups(app, client):
    app.test_cli_runner().invoke(args=["demo-data"])
    by_disease = dict(db.session.execute(sa.select(Condition.disease, sa.func.count()).group_by(Condition.disease)).all())
    residents = counts()["residents"]
    assert 0.10 <= by_disease["hypertension"] / residents <= 0.25
    assert 0.03 <= by_disease["diabetes"] / residents <= 0.08
    visits = db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp))
    controlled = db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp).where(FollowUp.on_target.is_(True)))
    assert visits > 4 * sum(by_disease.values()) * 0.8 and 0.4 < controlled / visits < 0.85
    headers = login(client, "t03-doctor1", "jiayi-demo-2025")
    overdue = client.get("/api/v1/follow-ups/due?scope=team&window=overdue", headers=headers).get_json()
    week = client.get("/api/v1/follow-ups/due?scope=team&window=week", headers=headers).get_json()
    assert overdue["total"] > 0 and week["total"] > 0


def planned_rows(table: str) -> float | None:
    """How many rows the database's planner believes the table holds (None: it has no idea)."""
    if on_postgresql():
        estimate = db.session.scalar(sa.text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table})
        return None if estimate is None or estimate < 0 else estimate
    if not db.session.scalar(sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")):
        return None
    # One row per index, led by the rows it covers; a partial index covers fewer than the table.
    stats = db.session.scalars(sa.text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t"), {"t": table}).all()
    return max((float(stat.split()[0]) for stat in stats), default=None)


def test_demo_data_leaves_the_planner_statistics_of_what_it_loaded(app):
    """Without them PostgreSQL plans the county figures for empty tables: seconds, not tenths."""
    db.session.execute(sa.text("ANALYZE"))  # the planner's view of the tables emptied for this test
    db.session.commit()
    app.test_cli_runner().invoke(args=["demo-data"])
    for model in (Resident, Contract, Condition, FollowUp):
        actual = db.session.scalar(sa.select(sa.func.count()).select_from(model))
        believed = planned_rows(model.__tablename__)
        assert believed is not None and abs(believed - actual) <= 0.1 * actual, (model.__tablename__, believed, actual)


def test_demo_reminders_plan_and_go_to_the_dry_run_channel(app_with):
    demo = app_with(JIAYI_WECHAT_APPID="", JIAYI_WECHAT_SECRET="")
    runner = demo.test_cli_runner()
    runner.invoke(args=["demo-data"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionCredit)) > 0
    today = clock.today().isoformat()
    planned = runner.invoke(args=["run-job", "plan-renewal-reminders", "--now", f"{today}T07:35:00+08:00"])
    assert '"planned": ' in planned.output and '"planned": 0' not in planned.output
    sent = runner.invoke(args=["run-job", "dispatch-notifications", "--now", f"{today}T08:00:00+08:00"])
    assert '"sent": ' in sent.output, sent.output
    headers = login(demo.test_client(), "county-admin", "jiayi-demo-2025")
    listed = demo.test_client().get("/api/v1/admin/notifications?status=sent", headers=headers).get_json()
    assert listed["total"] > 0 and {i["channel"] for i in listed["items"]} == {"dry_run"}


def test_demo_data_twice_changes_nothing(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo-data"])
    first = counts()
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    assert counts() == first


def test_committed_openapi_file_matches_the_code(app):
    assert OPENAPI_FILE.read_text(encoding="utf-8") == openapi_text(), \
        "api_docs/openapi.json is stale: run `flask --app wsgi openapi`"


def test_openapi_is_served_and_describes_the_operations(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/auth/staff/login" in spec["paths"]
    assert "post" in spec["paths"]["/api/v1/admin/teams"]
    assert spec["paths"]["/api/v1/admin/teams"]["post"]["security"] == [{"bearerAuth": []}]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/v1/openapi.json" in docs.data
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_openapi_check_fails_on_a_stale_file(app, tmp_path):
    stale = tmp_path / "openapi.json"
    stale.write_text(json.dumps({"openapi": "3.0.3"}))
    result = app.test_cli_runner().invoke(args=["openapi", "--check", "--output", str(stale)])
    assert result.exit_code == 1
