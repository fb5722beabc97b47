"""Contracts through the HTTP API: sign-up, decisions, renewal, expiry, lists and permissions."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract, TeamCount
from backend.extensions import db
from tests.factories import VILLAGE_A1, VILLAGE_B1, account_login, add_resident, id_number_for

TODAY = "2026-03-10T10:00:00+08:00"


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


@pytest.fixture
def world(client, wechat, county):
    at(TODAY)
    people = {
        "elder": add_resident("孙秀英", id_number_for(date(1950, 4, 2), 242), "13900000001", VILLAGE_A1),
        "young": add_resident("孙强", id_number_for(date(1995, 9, 9), 131), "13900000002", VILLAGE_A1),
        "b": add_resident("钱芳", id_number_for(date(1980, 1, 1), 222), "13900000003", VILLAGE_B1),
    }
    family = account_login(client, wechat, "o-sun")
    for key, relation in (("elder", "parent"), ("young", "self"), ("b", "other")):
        r = people[key]
        response = client.post("/api/v1/me/residents", headers=family, json={
            "name": r.name, "id_number": r.id_number, "phone": r.phone, "relation": relation})
        assert response.status_code == 201
    stranger = account_login(client, wechat, "o-stranger")
    return {"people": people, "family": family, "stranger": stranger, "county": county,
            "doctor": county.headers(client, "doctor_a"), "team": county.teams["a"]}


def sign_up(client, headers, resident, team, packages=("basic",), **extra):
    return client.post("/api/v1/contracts", headers=headers, json={
        "resident_id": resident.id, "team_id": team.id, "package_codes": list(packages), **extra})


def act(client, headers, contract_id, action, **body):
    if action in ("cancel", "renew"):
        return client.post(f"/api/v1/contracts/{contract_id}/{action}", headers=headers)
    payload = body or ({"reason": "居民迁出"} if action in ("reject", "terminate") else {})
    return client.post(f"/api/v1/contracts/{contract_id}/{action}", headers=headers, json=payload)


def active_contract(client, world, key="elder", packages=("basic",)):
    created = sign_up(client, world["family"], world["people"][key], world["team"], packages)
    assert created.status_code == 201, created.get_json()
    approved = act(client, world["doctor"], created.get_json()["id"], "approve")
    assert approved.status_code == 200, approved.get_json()
    return approved.get_json()


def test_acceptance_sign_up_approve_see_it_active_then_renew_inside_the_window_only(client, world):
    elder = world["people"]["elder"]
    created = sign_up(client, world["family"], elder, world["team"], ("basic", "elderly"))
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "pending" and body["package_codes"] == ["basic", "elderly"]
    assert body["resident_id"] == elder.id and body["team_id"] == world["team"].id

    pending = client.get(f"/api/v1/teams/{world['team'].id}/contracts?status=pending", headers=world["doctor"])
    assert [c["id"] for c in pending.get_json()["items"]] == [body["id"]]
    assert pending.get_json()["items"][0]["resident"]["phone"] == "139****0001"

    approved = act(client, world["doctor"], body["id"], "approve")
    assert approved.status_code == 200
    assert (approved.get_json()["status"], approved.get_json()["start_date"], approved.get_json()["end_date"]) == \
        ("active", "2026-03-10", "2027-03-09")
    assert approved.get_json()["doctor_id"] == world["county"].staff["doctor_a"].id

    history = client.get(f"/api/v1/residents/{elder.id}/contracts", headers=world["family"]).get_json()
    assert [(c["status"], c["start_date"]) for c in history["items"]] == [("active", "2026-03-10")]

    second = sign_up(client, world["family"], elder, world["team"])
    assert second.status_code == 409 and second.get_json()["code"] == "contract_exists"

    closed = act(client, world["family"], body["id"], "renew")
    assert closed.status_code == 409 and closed.get_json()["code"] == "renewal_window_closed"

    at("2027-01-08T09:00:00+08:00")  # 60 days before 2027-03-09
    renewal = act(client, world["family"], body["id"], "renew")
    assert renewal.status_code == 201
    assert renewal.get_json()["renewal_of"] == body["id"] and renewal.get_json()["status"] == "pending"
    assert renewal.get_json()["package_codes"] == ["basic", "elderly"]
    again = act(client, world["family"], body["id"], "renew")
    assert again.status_code == 409 and again.get_json()["code"] == "contract_exists"

    renewed = act(client, world["doctor"], renewal.get_json()["id"], "approve")
    assert (renewed.get_json()["start_date"], renewed.get_json()["end_date"]) == ("2027-03-10", "2028-03-09")


def test_a_team_member_signs_a_resident_up_on_site(client, world):
    response = sign_up(client, world["doctor"], world["people"]["young"], world["team"])
    assert response.status_code == 201


def test_staff_who_are_not_in_the_team_cannot_sign_up_for_it(client, world):
    county = world["county"]
    for who in ("doctor_b", "inst_admin", "county_admin"):
        response = sign_up(client, county.headers(client, who), world["people"]["young"], world["team"])
        assert response.status_code == 403, who


def test_an_account_signs_up_only_its_own_residents(client, world):
    response = sign_up(client, world["stranger"], world["people"]["young"], world["team"])
    assert response.status_code == 404


def test_a_team_that_does_not_serve_the_village_is_422_team_out_of_area(client, world):
    response = sign_up(client, world["family"], world["people"]["elder"], world["county"].teams["b"])
    assert response.status_code == 422 and response.get_json()["code"] == "team_out_of_area"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contract)) == 0


def test_a_package_for_a_group_the_resident_is_not_in_is_422_package_not_eligible(client, world):
    response = sign_up(client, world["family"], world["people"]["young"], world["team"], ("basic", "elderly"))
    assert response.status_code == 422
    assert response.get_json()["code"] == "package_not_eligible"
    assert "elderly" in response.get_json()["errors"]["package_codes"][0]


@pytest.mark.parametrize("packages", [("gold",), ("basic", "elderly")])
def test_unknown_or_not_offered_packages_are_422(client, world, packages):
    team_b = world["county"].teams["b"]
    response = sign_up(client, world["family"], world["people"]["b"], team_b, packages)
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"
    assert "package_codes" in response.get_json()["errors"]


@pytest.mark.parametrize("body, field", [
    ({"package_codes": []}, "package_codes"),
    ({"team_id": "no-such-team"}, "team_id"),
    ({"doctor_id": "not-a-member"}, "doctor_id"),
    ({"price_fen": 0}, "price_fen"),
])
def test_bad_sign_ups_are_422(client, world, body, field):
    payload = {"resident_id": world["people"]["elder"].id, "team_id": world["team"].id,
               "package_codes": ["basic"], **body}
    response = client.post("/api/v1/contracts", headers=world["family"], json=payload)
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_a_resident_without_a_village_must_choose_one_first(client, world, wechat):
    headers = account_login(client, wechat, "o-new")
    me = client.post("/api/v1/me/residents", headers=headers, json={
        "name": "新居民", "id_number": id_number_for(date(1990, 5, 5), 555), "phone": "13700000000",
        "relation": "self"}).get_json()
    response = client.post("/api/v1/contracts", headers=headers, json={
        "resident_id": me["id"], "team_id": world["team"].id, "package_codes": ["basic"]})
    assert response.status_code == 422 and "resident_id" in response.get_json()["errors"]


def test_a_full_team_is_409_team_full(client, world):
    world["team"].capacity_limit = 1
    db.session.commit()
    assert sign_up(client, world["family"], world["people"]["elder"], world["team"]).status_code == 201
    response = sign_up(client, world["family"], world["people"]["young"], world["team"])
    assert response.status_code == 409 and response.get_json()["code"] == "team_full"


def test_a_place_frees_up_when_a_sign_up_is_rejected(client, world):
    world["team"].capacity_limit = 1
    db.session.commit()
    first = sign_up(client, world["family"], world["people"]["elder"], world["team"]).get_json()
    act(client, world["doctor"], first["id"], "reject")
    assert sign_up(client, world["family"], world["people"]["young"], world["team"]).status_code == 201


def test_prices_are_those_of_the_day_of_signing(client, world):
    contract = active_contract(client, world, packages=("basic", "elderly"))
    client.patch(f"/api/v1/admin/service-packages/{world['county'].packages['elderly'].id}",
                 headers=world["county"].headers(client, "root"),
                 json={"price_fen": 50000, "funding": {"public_health_fen": 10000, "insurance_fen": 10000,
                                                       "self_pay_fen": 30000}})
    history = client.get(f"/api/v1/residents/{contract['resident_id']}/contracts", headers=world["family"])
    stored = history.get_json()["items"][0]
    assert stored["price_fen"] == 42000
    assert stored["funding"] == {"public_health_fen": 18000, "insurance_fen": 14000, "self_pay_fen": 10000}
    elderly = next(p for p in stored["packages"] if p["code"] == "elderly")
    assert elderly["price_fen"] == 30000


# Transitions

def contract_in(client, world, state: str) -> str:
    """A contract of the elder in ``state``."""
    created = sign_up(client, world["family"], world["people"]["elder"], world["team"]).get_json()
    cid = created["id"]
    if state == "rejected":
        act(client, world["doctor"], cid, "reject")
    elif state == "cancelled":
        act(client, world["family"], cid, "cancel")
    elif state in ("active", "terminated", "expired"):
        act(client, world["doctor"], cid, "approve")
        if state == "terminated":
            act(client, world["family"], cid, "terminate")
        if state == "expired":
            at("2027-03-10T09:00:00+08:00")
    return cid


ACTORS = {"approve": "doctor", "reject": "doctor", "cancel": "family", "terminate": "family"}


@pytest.mark.parametrize("state, action, outcome", [
    ("pending", "approve", "active"), ("pending", "reject", "rejected"), ("pending", "cancel", "cancelled"),
    ("pending", "terminate", None),
    ("active", "terminate", "terminated"), ("active", "approve", None), ("active", "reject", None),
    ("active", "cancel", None),
    *[(final, action, None) for final in ("rejected", "cancelled", "terminated", "expired")
      for action in ("approve", "reject", "cancel", "terminate")],
])
def test_transitions(client, world, state, action, outcome):
    cid = contract_in(client, world, state)
    response = act(client, world[ACTORS[action]], cid, action)
    if outcome is None:
        assert response.status_code == 409 and response.get_json()["code"] == "invalid_transition"
        assert db.session.get(Contract, cid).status in (state, "active")
    else:
        assert response.status_code == 200 and response.get_json()["status"] == outcome


@pytest.mark.parametrize("state", ["pending", "rejected", "cancelled", "terminated"])
def test_only_active_or_expired_contracts_renew(client, world, state):
    cid = contract_in(client, world, state)
    response = act(client, world["family"], cid, "renew")
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_transition"


def test_terminate_needs_a_reason(client, world):
    cid = contract_in(client, world, "active")
    response = client.post(f"/api/v1/contracts/{cid}/terminate", headers=world["family"], json={})
    assert response.status_code == 422 and "reason" in response.get_json()["errors"]


def test_a_team_member_may_terminate(client, world):
    cid = contract_in(client, world, "active")
    response = act(client, world["doctor"], cid, "terminate")
    assert response.status_code == 200 and response.get_json()["ended_on"] == "2026-03-10"


# Permissions on decisions

def test_staff_cannot_cancel_for_the_resident(client, world):
    cid = contract_in(client, world, "pending")
    assert act(client, world["doctor"], cid, "cancel").status_code == 403


def test_accounts_and_admins_cannot_approve(client, world):
    cid = contract_in(client, world, "pending")
    assert act(client, world["family"], cid, "approve").status_code == 403
    assert act(client, world["county"].headers(client, "inst_admin"), cid, "approve").status_code == 403


def test_a_doctor_of_another_team_cannot_see_or_decide(client, world):
    cid = contract_in(client, world, "pending")
    other = world["county"].headers(client, "doctor_b")
    assert act(client, other, cid, "approve").status_code == 404
    assert act(client, other, cid, "reject").status_code == 404


def test_a_stranger_account_cannot_cancel_terminate_or_renew(client, world):
    pending = contract_in(client, world, "pending")
    assert act(client, world["stranger"], pending, "cancel").status_code == 404
    act(client, world["doctor"], pending, "approve")
    assert act(client, world["stranger"], pending, "terminate").status_code == 404
    assert act(client, world["stranger"], pending, "renew").status_code == 404


def test_anonymous_calls_are_401(client, world):
    cid = contract_in(client, world, "pending")
    assert client.post(f"/api/v1/contracts/{cid}/approve", json={}).status_code == 401
    assert client.post("/api/v1/contracts", json={}).status_code == 401


# Dates

def test_approval_on_a_29_february_ends_on_27_february(client, world):
    at("2028-02-29T10:00:00+08:00")
    created = sign_up(client, world["family"], world["people"]["elder"], world["team"]).get_json()
    approved = act(client, world["doctor"], created["id"], "approve").get_json()
    assert (approved["start_date"], approved["end_date"]) == ("2028-02-29", "2029-02-27")


def test_approve_with_a_start_date(client, world):
    created = sign_up(client, world["family"], world["people"]["elder"], world["team"]).get_json()
    response = act(client, world["doctor"], created["id"], "approve", start_date="2026-04-01")
    assert (response.get_json()["start_date"], response.get_json()["end_date"]) == ("2026-04-01", "2027-03-31")


@pytest.mark.parametrize("start", ["2026-03-09", "2026-07-01"])
def test_approve_start_date_before_the_application_or_too_far_ahead_is_422(client, world, start):
    created = sign_up(client, world["family"], world["people"]["elder"], world["team"]).get_json()
    response = act(client, world["doctor"], created["id"], "approve", start_date=start)
    assert response.status_code == 422 and "start_date" in response.get_json()["errors"]
    assert db.session.get(Contract, created["id"]).status == "pending"


@pytest.mark.parametrize("moment, status", [
    ("2027-01-07T23:59:00+08:00", 409),  # 61 days before the end of 2027-03-09
    ("2027-01-08T00:00:00+08:00", 201),  # the first day of the window
    ("2027-06-07T23:59:00+08:00", 201),  # the last day: 90 days after the end
    ("2027-06-08T00:00:00+08:00", 409),
])
def test_renewal_window_edges(client, world, moment, status):
    contract = active_contract(client, world)
    at(moment)
    response = act(client, world["family"], contract["id"], "renew")
    assert response.status_code == status
    if status == 409:
        assert response.get_json()["code"] == "renewal_window_closed"


def test_a_renewal_approved_after_the_end_starts_on_the_approval_day(client, world):
    contract = active_contract(client, world)
    at("2027-04-01T09:00:00+08:00")
    renewal = act(client, world["doctor"], contract["id"], "renew").get_json()
    approved = act(client, world["doctor"], renewal["id"], "approve").get_json()
    assert (approved["start_date"], approved["end_date"]) == ("2027-04-01", "2028-03-31")
    history = client.get(f"/api/v1/residents/{contract['resident_id']}/contracts", headers=world["family"])
    assert [c["status"] for c in history.get_json()["items"]] == ["active", "expired"]


def test_a_renewal_cannot_start_inside_the_old_term(client, world):
    contract = active_contract(client, world)
    at("2027-02-01T09:00:00+08:00")
    renewal = act(client, world["family"], contract["id"], "renew").get_json()
    response = act(client, world["doctor"], renewal["id"], "approve", start_date="2027-03-01")
    assert response.status_code == 422 and "start_date" in response.get_json()["errors"]


# Expiry

def test_expire_job_records_ended_terms_once(client, world, app):
    contract = active_contract(client, world)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["run-job", "expire-contracts", "--now", "2027-03-09T23:00:00+08:00"])
    assert result.exit_code == 0 and '"expired": 0' in result.output
    result = runner.invoke(args=["run-job", "expire-contracts", "--now", "2027-03-10T01:00:00+08:00"])
    assert '"expired": 1' in result.output
    again = runner.invoke(args=["run-job", "expire-contracts", "--now", "2027-03-11T01:00:00+08:00"])
    assert '"expired": 0' in again.output
    db.session.expire_all()
    stored = db.session.get(Contract, contract["id"])
    assert (stored.status, stored.ended_on) == ("expired", date(2027, 3, 9))


def test_run_job_rejects_unknown_jobs_and_bad_moments(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["run-job", "make-coffee"]).exit_code != 0
    assert runner.invoke(args=["run-job", "expire-contracts", "--now", "yesterday"]).exit_code != 0


def test_after_expiry_the_resident_may_sign_again(client, world):
    active_contract(client, world)
    at("2027-07-01T09:00:00+08:00")  # past the end, job not yet run
    response = sign_up(client, world["family"], world["people"]["elder"], world["team"])
    assert response.status_code == 201


# Lists

def test_team_work_lists(client, world):
    elder = active_contract(client, world)
    young = sign_up(client, world["family"], world["people"]["young"], world["team"]).get_json()
    url = f"/api/v1/teams/{world['team'].id}/contracts"
    ids = lambda status: [c["id"] for c in client.get(f"{url}?status={status}", headers=world["doctor"]).get_json()["items"]]  # noqa: E731
    assert ids("pending") == [young["id"]]
    assert ids("active") == [elder["id"]]
    assert ids("expiring") == []
    at("2027-02-10T09:00:00+08:00")  # the elder's term ends within 30 days
    assert ids("expiring") == [elder["id"]]
    bad = client.get(f"{url}?status=everything", headers=world["doctor"])
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]


@pytest.mark.parametrize("who, status", [
    ("doctor_a", 200), ("nurse_a", 200), ("inst_admin", 200), ("county_admin", 200),
    ("doctor_b", 403), ("inst_admin_b", 403), ("other_county_admin", 403),
])
def test_who_sees_a_teams_work_list(client, world, who, status):
    response = client.get(f"/api/v1/teams/{world['team'].id}/contracts",
                          headers=world["county"].headers(client, who))
    assert response.status_code == status


def test_team_list_counts_contracted_residents(client, world):
    active_contract(client, world)
    team = client.get(f"/api/v1/teams/{world['team'].id}").get_json()
    assert team["contracted_count"] == 1


# The team card's count, kept per team and day (contracts.counts)

def kept_count(team_id: str) -> tuple[date, int] | None:
    db.session.expire_all()
    stored = db.session.get(TeamCount, team_id)
    return None if stored is None else (stored.counted_on, stored.contracted)


def card_count(client, team_id: str) -> int:
    return client.get(f"/api/v1/teams/{team_id}").get_json()["contracted_count"]


def test_each_write_of_a_teams_contracts_counts_the_team_again_for_the_day(client, world):
    team = world["team"].id
    day = clock.today()
    elder = active_contract(client, world)
    assert kept_count(team) == (day, 1) and card_count(client, team) == 1
    young = sign_up(client, world["family"], world["people"]["young"], world["team"]).get_json()
    assert kept_count(team) == (day, 1)  # pending: not contracted yet
    assert act(client, world["doctor"], young["id"], "approve").status_code == 200
    assert kept_count(team) == (day, 2) and card_count(client, team) == 2
    assert act(client, world["doctor"], elder["id"], "terminate").status_code == 200
    assert kept_count(team) == (day, 1) and card_count(client, team) == 1
    refused = act(client, world["doctor"], elder["id"], "terminate")  # a failed write changes nothing
    assert refused.status_code == 409 and kept_count(team) == (day, 1)


def test_sign_ups_never_active_leave_the_teams_count_alone(client, world):
    """A pending sign-up, its rejection and its withdrawal contract nobody: the team is not
    counted again for them (a count would have replaced the marker set here)."""
    team = world["team"].id
    day = clock.today()
    active_contract(client, world)
    db.session.execute(sa.update(TeamCount).where(TeamCount.team_id == team).values(contracted=5))
    db.session.commit()
    young = sign_up(client, world["family"], world["people"]["young"], world["team"]).get_json()
    assert act(client, world["doctor"], young["id"], "reject").status_code == 200
    again = sign_up(client, world["family"], world["people"]["young"], world["team"]).get_json()
    assert act(client, world["family"], again["id"], "cancel").status_code == 200
    assert kept_count(team) == (day, 5)


def test_a_count_kept_for_another_day_is_not_read(client, world):
    team = world["team"].id
    active_contract(client, world)
    assert kept_count(team) == (clock.today(), 1)
    at("2027-03-10T09:00:00+08:00")  # the term ended yesterday; nothing was written since
    assert card_count(client, team) == 0
    at("2026-03-09T09:00:00+08:00")  # the day before it started
    assert card_count(client, team) == 0


def test_the_nightly_job_counts_every_team_for_the_new_day(client, world, app):
    team = world["team"].id
    active_contract(client, world)
    result = app.test_cli_runner().invoke(args=["run-job", "expire-contracts", "--now", "2026-03-11T00:10:00+08:00"])
    assert result.exit_code == 0 and '"teams_counted": 1' in result.output, result.output
    assert kept_count(team) == (date(2026, 3, 11), 1)
    again = app.test_cli_runner().invoke(args=["run-job", "expire-contracts", "--now", "2026-03-11T01:00:00+08:00"])
    assert '"teams_counted": 0' in again.output  # counted for the day already
    back = app.test_cli_runner().invoke(args=["run-job", "expire-contracts", "--now", "2026-03-10T01:00:00+08:00"])
    assert back.exit_code == 0 and kept_count(team) == (date(2026, 3, 11), 1)  # a back-dated run keeps the day's
    ended = app.test_cli_runner().invoke(args=["run-job", "expire-contracts", "--now", "2027-03-10T00:10:00+08:00"])
    assert '"expired": 1' in ended.output
    at("2027-03-10T09:00:00+08:00")
    assert card_count(client, team) == 0


def test_the_health_record_shows_the_count_kept_for_today(client, world):
    """The team card of a health record reads today's kept count instead of counting the team's
    contracts (the figure each write keeps, as the tests above hold)."""
    team = world["team"].id
    elder = world["people"]["elder"]
    active_contract(client, world)
    stored = db.session.get(TeamCount, team)
    stored.contracted = 7  # a figure only the kept count can have given
    db.session.commit()
    record = client.get(f"/api/v1/residents/{elder.id}/health-record", headers=world["doctor"]).get_json()
    assert record["team"]["id"] == team and record["team"]["contracted_count"] == 7


def test_history_is_scoped_and_logged(client, world):
    contract = active_contract(client, world)
    resident_id = contract["resident_id"]
    assert client.get(f"/api/v1/residents/{resident_id}/contracts", headers=world["stranger"]).status_code == 404
    other_doctor = world["county"].headers(client, "doctor_b")
    assert client.get(f"/api/v1/residents/{resident_id}/contracts", headers=other_doctor).status_code == 404
    assert client.get(f"/api/v1/residents/{resident_id}/contracts", headers=world["doctor"]).status_code == 200
    log = client.get(f"/api/v1/residents/{resident_id}/access-log", headers=world["family"]).get_json()
    reads = [e for e in log["items"] if e["action"] == "GET /api/v1/residents/{resident_id}/contracts"]
    assert [e["actor"]["name"] for e in reads] == ["王医生"]
