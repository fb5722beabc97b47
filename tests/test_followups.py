"""Conditions, follow-up visits and the due list through the HTTP API."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.followups.models import Condition, FollowUp
from backend.security.models import AccessLog
from tests.factories import VILLAGE_A1, VILLAGE_B1, account_login, add_resident, id_number_for


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


@pytest.fixture
def world(client, wechat, county):
    at("2026-03-02T09:00:00+08:00")
    elder = add_resident("高玉兰", id_number_for(date(1956, 1, 20), 262), "13900001111", VILLAGE_A1)
    adult = add_resident("高建国", id_number_for(date(1975, 6, 1), 271), "13900002222", VILLAGE_A1)
    far = add_resident("鲁大成", id_number_for(date(1960, 1, 1), 281), "13900003333", VILLAGE_B1)
    family = account_login(client, wechat, "o-gao")
    client.post("/api/v1/me/residents", headers=family, json={
        "name": "高玉兰", "id_number": elder.id_number, "phone": "13900001111", "relation": "parent"})
    return {"elder": elder, "adult": adult, "far": far, "family": family, "county": county,
            "doctor": county.headers(client, "doctor_a")}


def register(client, headers, resident, disease="hypertension", **body):
    return client.post(f"/api/v1/residents/{resident.id}/conditions", headers=headers,
                       json={"disease": disease, "diagnosed_on": "2020-05-01", **body})


def visit(client, headers, resident, **body):
    payload = {"disease": "hypertension", "visited_on": clock.today().isoformat(), "method": "clinic", **body}
    return client.post(f"/api/v1/residents/{resident.id}/follow-ups", headers=headers, json=payload)


def due(client, headers, window="overdue", scope="team"):
    response = client.get(f"/api/v1/follow-ups/due?scope={scope}&window={window}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_acceptance_register_visit_refer_and_due_list(client, world):
    elder, doctor = world["elder"], world["doctor"]
    registered = register(client, doctor, elder)
    assert registered.status_code == 201
    assert registered.get_json()["next_due_on"] == "2026-03-16"  # first visit within 14 days

    first = visit(client, doctor, elder, sbp=148, dbp=88)
    assert first.status_code == 201
    assert (first.get_json()["classification"], first.get_json()["next_due_on"]) == ("controlled", "2026-05-31")

    at("2026-04-01T09:00:00+08:00")
    second = visit(client, doctor, elder, sbp=165, dbp=95).get_json()
    assert (second["classification"], second["refer"], second["next_due_on"]) == ("uncontrolled", False, "2026-04-15")
    at("2026-04-15T09:00:00+08:00")
    third = visit(client, doctor, elder, sbp=165, dbp=95).get_json()
    assert (third["classification"], third["refer"], third["urgent_referral"]) == ("uncontrolled", True, False)
    assert third["referral_reasons"] == ["two_consecutive_uncontrolled"] and third["next_due_on"] == "2026-04-29"

    assert due(client, doctor) == []
    at("2026-04-30T09:00:00+08:00")
    (item,) = due(client, doctor)
    assert item["resident"]["name"] == "高玉兰" and item["resident"]["phone"] == "139****1111"
    assert (item["disease"], item["due_on"], item["days_overdue"]) == ("hypertension", "2026-04-29", 1)
    assert item["last"]["classification"] == "uncontrolled" and item["last"]["refer"] is True
    assert item["reminder"] == {"status": "none", "at": None} and item["needs_call"] is False


def test_registering_the_same_disease_twice_is_409(client, world):
    register(client, world["doctor"], world["elder"])
    response = register(client, world["doctor"], world["elder"])
    assert response.status_code == 409 and response.get_json()["code"] == "condition_exists"


def test_registration_may_be_back_dated(client, world):
    response = register(client, world["doctor"], world["elder"], registered_on="2024-06-01")
    assert response.status_code == 201 and response.get_json()["next_due_on"] == "2024-06-15"


@pytest.mark.parametrize("body, field", [
    ({"disease": "asthma"}, "disease"),
    ({"diagnosed_on": "2027-01-01"}, "diagnosed_on"),
    ({"diagnosed_on": "1950-01-01"}, "diagnosed_on"),
    ({"registered_on": "2019-01-01"}, "registered_on"),
    ({"registered_on": "2026-03-03"}, "registered_on"),
])
def test_bad_registrations_are_422(client, world, body, field):
    payload = {"disease": "hypertension", "diagnosed_on": "2020-05-01", **body}
    response = client.post(f"/api/v1/residents/{world['elder'].id}/conditions", headers=world["doctor"], json=payload)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Condition)) == 0


def test_deregistration_keeps_history_and_leaves_the_due_list(client, world):
    condition = register(client, world["doctor"], world["elder"], registered_on="2025-01-01").get_json()
    at("2026-04-01T09:00:00+08:00")
    assert len(due(client, world["doctor"])) == 1
    response = client.post(f"/api/v1/residents/{world['elder'].id}/conditions/{condition['id']}/deregister",
                           headers=world["doctor"], json={"reason": "moved_away", "on": "2026-03-31"})
    assert response.status_code == 200 and response.get_json()["deregistered_on"] == "2026-03-31"
    assert due(client, world["doctor"]) == []
    listed = client.get(f"/api/v1/residents/{world['elder'].id}/conditions", headers=world["doctor"]).get_json()
    assert [c["deregistration_reason"] for c in listed] == ["moved_away"]
    again = client.post(f"/api/v1/residents/{world['elder'].id}/conditions/{condition['id']}/deregister",
                        headers=world["doctor"], json={"reason": "death"})
    assert again.status_code == 409
    assert register(client, world["doctor"], world["elder"]).status_code == 201  # may be managed again


def test_bad_deregistrations_are_422(client, world):
    condition = register(client, world["doctor"], world["elder"]).get_json()
    url = f"/api/v1/residents/{world['elder'].id}/conditions/{condition['id']}/deregister"
    assert "reason" in client.post(url, headers=world["doctor"], json={"reason": "bored"}).get_json()["errors"]
    assert "on" in client.post(url, headers=world["doctor"], json={"reason": "death", "on": "2027-01-01"}).get_json()["errors"]


def test_a_diabetes_visit_needs_fasting_glucose(client, world):
    register(client, world["doctor"], world["elder"], disease="diabetes")
    response = visit(client, world["doctor"], world["elder"], disease="diabetes", sbp=130, dbp=80)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["fasting_glucose"]
    ok = visit(client, world["doctor"], world["elder"], disease="diabetes", fasting_glucose=6.4)
    assert ok.status_code == 201 and ok.get_json()["classification"] == "controlled"


@pytest.mark.parametrize("body, field", [
    ({"sbp": 400, "dbp": 80}, "sbp"),
    ({"sbp": 49, "dbp": 40}, "sbp"),
    ({"sbp": 120, "dbp": 20}, "dbp"),
    ({"sbp": 120, "dbp": 120}, "dbp"),
    ({"sbp": 120, "dbp": 130}, "dbp"),
    ({"sbp": 120, "dbp": 80, "heart_rate": 300}, "heart_rate"),
    ({"sbp": 120, "dbp": 80, "fasting_glucose": 0}, "fasting_glucose"),
    ({"sbp": 120, "dbp": 80, "fasting_glucose": 41}, "fasting_glucose"),
    ({"sbp": 120, "dbp": 80, "weight_kg": 1}, "weight_kg"),
    ({"sbp": 120, "dbp": 80, "height_cm": 300}, "height_cm"),
    ({"sbp": 120, "dbp": 80, "temperature_c": 46}, "temperature_c"),
    ({"sbp": 120, "dbp": 80, "visited_on": "2026-03-03"}, "visited_on"),
    ({"sbp": 120, "dbp": 80, "visited_on": "2019-01-01"}, "visited_on"),
    ({"sbp": 120, "dbp": 80, "method": "telepathy"}, "method"),
    ({"sbp": 120, "dbp": 80, "symptoms": ["hiccups"]}, "symptoms"),
    ({"sbp": 120, "dbp": 80, "complication": "maybe"}, "complication"),
    ({"sbp": 120, "dbp": 80, "medication_adherence": "sometimes"}, "medication_adherence"),
    ({"sbp": "high", "dbp": 80}, "sbp"),
    ({"dbp": 80}, "sbp"),
    ({"sbp": 120, "dbp": 80, "id": "not-a-uuid"}, "id"),
    ({"sbp": 120, "dbp": 80, "pulse": 70}, "pulse"),
])
def test_implausible_or_missing_values_are_422_naming_the_field(client, world, body, field):
    register(client, world["doctor"], world["elder"])
    response = visit(client, world["doctor"], world["elder"], **body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 0


def test_a_visit_for_an_unregistered_disease_is_422(client, world):
    response = visit(client, world["doctor"], world["elder"], sbp=130, dbp=80)
    assert response.status_code == 422 and "disease" in response.get_json()["errors"]


def test_the_same_id_and_body_again_returns_the_stored_visit(client, world):
    register(client, world["doctor"], world["elder"])
    visit_id = str(uuid.uuid4())
    first = visit(client, world["doctor"], world["elder"], id=visit_id, sbp=150, dbp=92, notes="头晕")
    assert first.status_code == 201
    again = visit(client, world["doctor"], world["elder"], id=visit_id, sbp=150, dbp=92, notes="头晕")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 1


def test_the_same_id_with_another_body_is_409_id_conflict(client, world):
    register(client, world["doctor"], world["elder"])
    visit_id = str(uuid.uuid4())
    visit(client, world["doctor"], world["elder"], id=visit_id, sbp=150, dbp=92)
    response = visit(client, world["doctor"], world["elder"], id=visit_id, sbp=151, dbp=92)
    assert response.status_code == 409 and response.get_json()["code"] == "id_conflict"
    stored = db.session.get(FollowUp, visit_id)
    assert stored.sbp == 150


def test_the_same_id_for_another_resident_is_409(client, world):
    register(client, world["doctor"], world["elder"])
    register(client, world["doctor"], world["adult"])
    visit_id = str(uuid.uuid4())
    visit(client, world["doctor"], world["elder"], id=visit_id, sbp=150, dbp=92)
    response = visit(client, world["doctor"], world["adult"], id=visit_id, sbp=150, dbp=92)
    assert response.status_code == 409 and response.get_json()["code"] == "id_conflict"


def test_a_back_dated_visit_does_not_move_the_schedule_back(client, world):
    register(client, world["doctor"], world["elder"], registered_on="2025-12-01")
    visit(client, world["doctor"], world["elder"], sbp=130, dbp=80)  # today: due in 90 days
    late_entry = visit(client, world["doctor"], world["elder"], sbp=170, dbp=100, visited_on="2026-01-10")
    assert late_entry.status_code == 201 and late_entry.get_json()["next_due_on"] == "2026-01-24"
    condition = db.session.scalar(sa.select(Condition))
    assert condition.next_due_on == date(2026, 5, 31)


def test_urgent_referrals_head_the_due_list_then_the_longest_overdue(client, world):
    doctor = world["doctor"]
    for resident in (world["elder"], world["adult"]):
        register(client, doctor, resident, registered_on="2025-12-01")
    register(client, doctor, world["elder"], disease="diabetes", registered_on="2025-12-01")
    at("2026-01-05T09:00:00+08:00")
    visit(client, doctor, world["adult"], sbp=190, dbp=100)          # urgent, due 2026-01-19
    at("2026-01-20T09:00:00+08:00")
    items = due(client, doctor)
    assert [(i["resident"]["name"], i["disease"], i["urgent"]) for i in items] == [
        ("高建国", "hypertension", True),
        ("高玉兰", "diabetes", False), ("高玉兰", "hypertension", False),  # due 2025-12-15
    ]
    assert items[1]["days_overdue"] == 36


def test_due_windows(client, world):
    doctor = world["doctor"]
    register(client, doctor, world["elder"], registered_on="2026-02-20")   # due 2026-03-06
    register(client, doctor, world["adult"], registered_on="2026-02-16")   # due 2026-03-02 (today)
    assert [i["resident"]["name"] for i in due(client, doctor, "today")] == ["高建国"]
    assert [i["resident"]["name"] for i in due(client, doctor, "week")] == ["高建国", "高玉兰"]
    assert due(client, doctor, "overdue") == []


def test_mine_is_the_residents_i_hold_contracts_for(client, world):
    doctor = world["doctor"]
    register(client, doctor, world["elder"], registered_on="2025-01-01")
    register(client, doctor, world["adult"], registered_on="2025-01-01")
    created = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": world["elder"].id, "team_id": world["county"].teams["a"].id, "package_codes": ["basic"]})
    client.post(f"/api/v1/contracts/{created.get_json()['id']}/approve", headers=doctor, json={})
    assert [i["resident"]["name"] for i in due(client, doctor, scope="mine")] == ["高玉兰"]
    assert len(due(client, doctor, scope="team")) == 2
    nurse = world["county"].headers(client, "nurse_a")
    assert due(client, nurse, scope="mine") == []


def test_due_list_is_scoped_and_logged(client, world):
    register(client, world["county"].headers(client, "doctor_b"), world["far"], registered_on="2025-01-01")
    register(client, world["doctor"], world["elder"], registered_on="2025-01-01")
    assert [i["resident"]["name"] for i in due(client, world["doctor"])] == ["高玉兰"]
    other = due(client, world["county"].headers(client, "doctor_b"))
    assert [i["resident"]["name"] for i in other] == ["鲁大成"]
    log = client.get(f"/api/v1/residents/{world['elder'].id}/access-log", headers=world["family"]).get_json()
    assert "GET /api/v1/follow-ups/due" in [e["action"] for e in log["items"]]


def test_a_due_page_logs_each_listed_resident_once(client, world):
    """Two conditions of one resident are two rows of the list and one read in the log."""
    register(client, world["doctor"], world["elder"], registered_on="2025-01-01")
    register(client, world["doctor"], world["elder"], disease="diabetes", registered_on="2025-01-01")
    register(client, world["doctor"], world["adult"], registered_on="2025-01-01")
    at("2026-03-20T10:00:00+08:00")
    listed = due(client, world["doctor"])
    assert sorted(i["resident"]["name"] for i in listed) == ["高建国", "高玉兰", "高玉兰"]
    logged = db.session.execute(sa.select(AccessLog.resident_id, AccessLog.actor_name, AccessLog.action,
                                          AccessLog.at, AccessLog.id)
                                .where(AccessLog.action == "GET /api/v1/follow-ups/due")).all()
    assert sorted(row.resident_id for row in logged) == sorted([world["elder"].id, world["adult"].id])
    assert {(row.actor_name, clock.to_civil(row.at).isoformat()) for row in logged} == {
        ("王医生", "2026-03-20T10:00:00+08:00")}
    assert len({row.id for row in logged}) == 2


def test_a_due_page_that_cannot_be_logged_fails_without_the_data(client, world):
    register(client, world["doctor"], world["elder"], registered_on="2025-01-01")
    db.session.execute(sa.text("ALTER TABLE access_logs RENAME TO access_logs_away"))
    db.session.commit()
    try:
        response = client.get("/api/v1/follow-ups/due?scope=team&window=overdue", headers=world["doctor"])
    finally:
        db.session.rollback()
        db.session.execute(sa.text("ALTER TABLE access_logs_away RENAME TO access_logs"))
        db.session.commit()
    assert response.status_code == 503
    assert response.get_json()["code"] == "access_log_unavailable"
    assert "高玉兰" not in response.get_data(as_text=True)
    assert due(client, world["doctor"])[0]["resident"]["name"] == "高玉兰"  # served again once it can be logged


@pytest.mark.parametrize("query", ["scope=everyone", "window=month", "page_size=500"])
def test_bad_due_queries_are_422(client, world, query):
    response = client.get(f"/api/v1/follow-ups/due?{query}", headers=world["doctor"])
    assert response.status_code == 422


@pytest.mark.parametrize("who, status", [("doctor_a", 201), ("nurse_a", 201), ("village_doctor", 201),
                                         ("doctor_b", 404), ("inst_admin", 403), ("county_admin", 403)])
def test_who_may_register_and_record(client, world, who, status):
    response = register(client, world["county"].headers(client, who), world["elder"])
    assert response.status_code == status


def test_accounts_read_but_do_not_write(client, world):
    register(client, world["doctor"], world["elder"])
    visit(client, world["doctor"], world["elder"], sbp=128, dbp=78)
    assert register(client, world["family"], world["elder"], disease="diabetes").status_code == 403
    assert visit(client, world["family"], world["elder"], sbp=120, dbp=80).status_code == 403
    listed = client.get(f"/api/v1/residents/{world['elder'].id}/follow-ups", headers=world["family"])
    assert listed.status_code == 200 and [f["sbp"] for f in listed.get_json()["items"]] == [128]
    conditions = client.get(f"/api/v1/residents/{world['elder'].id}/conditions", headers=world["family"])
    assert [c["disease"] for c in conditions.get_json()] == ["hypertension"]
    stranger = client.get(f"/api/v1/residents/{world['adult'].id}/follow-ups", headers=world["family"])
    assert stranger.status_code == 404
    assert client.get("/api/v1/follow-ups/due", headers=world["family"]).status_code == 403


def test_follow_up_list_filters_by_disease(client, world):
    doctor = world["doctor"]
    register(client, doctor, world["elder"])
    register(client, doctor, world["elder"], disease="diabetes")
    visit(client, doctor, world["elder"], sbp=128, dbp=78)
    visit(client, doctor, world["elder"], disease="diabetes", fasting_glucose=8.1)
    listed = client.get(f"/api/v1/residents/{world['elder'].id}/follow-ups?disease=diabetes", headers=doctor)
    assert [f["fasting_glucose"] for f in listed.get_json()["items"]] == [8.1]


def test_registered_conditions_become_key_groups(client, world):
    register(client, world["doctor"], world["adult"], disease="diabetes")
    resident = client.get(f"/api/v1/residents/{world['adult'].id}", headers=world["doctor"]).get_json()
    assert resident["groups"] == ["diabetes"]
    found = client.get("/api/v1/residents?group=diabetes", headers=world["doctor"]).get_json()
    assert [r["name"] for r in found["items"]] == ["高建国"]


def test_pregnancy_makes_raised_pressure_urgent(client, world):
    doctor = world["doctor"]
    young = add_resident("韩梅", id_number_for(date(1996, 3, 3), 282), "13900004444", VILLAGE_A1,
                         groups=("pregnant",))
    register(client, doctor, young)
    response = visit(client, doctor, young, sbp=145, dbp=88)
    assert response.get_json()["urgent_referral"] is True
    assert response.get_json()["referral_reasons"] == ["pregnant_bp_gt_140_90"]


def test_a_resident_who_moves_takes_the_due_list_along_and_stays_on_the_contracted_teams(client, world):
    """Conditions and contracts keep a copy of the resident's village for the work lists: a move
    rewrites both, the new village's team sees the patient, and the team holding the contract
    still does (it is now outside its villages)."""
    doctor, elder = world["doctor"], world["elder"]
    register(client, doctor, elder, registered_on="2025-01-01")
    created = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": elder.id, "team_id": world["county"].teams["a"].id, "package_codes": ["basic"]})
    assert client.post(f"/api/v1/contracts/{created.get_json()['id']}/approve", headers=doctor,
                       json={}).status_code == 200
    doctor_b = world["county"].headers(client, "doctor_b")
    assert due(client, doctor_b) == []

    moved = client.patch(f"/api/v1/residents/{elder.id}", headers=world["county"].headers(client, "county_admin"),
                         json={"region_code": VILLAGE_B1})
    assert moved.status_code == 200, moved.get_json()
    from backend.contracts.models import Contract
    copies = {db.session.scalar(sa.select(Condition.region_code).where(Condition.resident_id == elder.id)),
              db.session.scalar(sa.select(Contract.region_code).where(Contract.resident_id == elder.id))}
    assert copies == {VILLAGE_B1}
    assert [i["resident"]["name"] for i in due(client, doctor_b)] == ["高玉兰"]
    assert [i["resident"]["name"] for i in due(client, doctor)] == ["高玉兰"]  # held by contract
    assert due(client, world["county"].headers(client, "nurse_a"))[0]["resident"]["region_code"] == VILLAGE_B1


def test_a_condition_reachable_by_village_and_by_contract_is_listed_once(client, world):
    """The due list's two parts (the team's villages, its contracts elsewhere) are split by the
    condition's own village, so a row both would reach is listed once."""
    from backend.contracts.models import Contract

    doctor, elder = world["doctor"], world["elder"]
    register(client, doctor, elder, registered_on="2025-01-01")
    created = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": elder.id, "team_id": world["county"].teams["a"].id, "package_codes": ["basic"]})
    assert created.status_code == 201, created.get_json()
    # The contract's copy of the village says the resident lives outside the team's villages.
    db.session.execute(sa.update(Contract).where(Contract.resident_id == elder.id).values(region_code=VILLAGE_B1))
    db.session.commit()
    assert [i["resident"]["name"] for i in due(client, doctor)] == ["高玉兰"]
    assert client.get("/api/v1/follow-ups/due?scope=team&window=overdue", headers=doctor).get_json()["total"] == 1


def test_the_due_list_shows_the_phone_masked_and_follows_a_new_number(client, world):
    """The list shows the masked phone stored beside the encrypted one; a new number replaces it."""
    doctor, elder = world["doctor"], world["elder"]
    register(client, doctor, elder, registered_on="2025-01-01")
    assert due(client, doctor)[0]["resident"]["phone"] == "139****1111"
    changed = client.patch(f"/api/v1/residents/{elder.id}", headers=doctor, json={"phone": "13704335678"})
    assert changed.status_code == 200, changed.get_json()
    assert due(client, doctor)[0]["resident"]["phone"] == "137****5678"
    stored = db.session.execute(sa.text("SELECT phone_enc, phone_shown FROM residents WHERE id = :id"),
                                {"id": elder.id}).one()
    assert stored.phone_shown == "137****5678" and "5678" not in stored.phone_enc  # the number stays encrypted
    assert client.patch(f"/api/v1/residents/{elder.id}", headers=doctor, json={"phone": None}).status_code == 200
    assert due(client, doctor)[0]["resident"]["phone"] is None


def test_due_list_pages_count_the_whole_list_even_past_the_end(client, world):
    doctor = world["doctor"]
    register(client, doctor, world["elder"], registered_on="2025-01-01")
    register(client, doctor, world["adult"], registered_on="2025-01-01")
    url = "/api/v1/follow-ups/due?scope=team&window=overdue&page_size=1"
    second = client.get(url + "&page=2", headers=doctor).get_json()
    assert (len(second["items"]), second["total"]) == (1, 2)
    past = client.get(url + "&page=5", headers=doctor).get_json()
    assert (past["items"], past["total"], past["page"]) == ([], 2, 5)


def test_due_list_items_are_the_schema_s_dump_on_the_demo_county(app, client):
    """The due list builds its items ready for JSON instead of dumping them through
    DueItemSchema: on the demo county (visits, calls, planned reminders) every item loads into
    the schema and dumps back to itself, with the schema's fields in the schema's order."""
    from backend.directory.models import Staff, TeamMember, TeamServiceArea
    from backend.fulfilment.models import Call
    from backend.notifications.models import Notification
    from backend.followups.schemas import DueItemSchema, DueResidentSchema, LastCallSchema, LastVisitSchema
    from scheduled.jobs import run_recorded
    from tests.factories import login

    # The demo county is built around its day; one fixed day makes the lists the same on any
    # date the suite runs (on some days the real one gave too few items to show everything).
    at("2026-11-26T07:30:00+08:00")
    assert app.test_cli_runner().invoke(args=["demo-data"]).exit_code == 0
    assert run_recorded("plan-follow-up-reminders", clock.now(), "test").counts["planned"] > 0
    at("2026-11-26T10:00:00+08:00")
    def doctor_of(condition_filter):  # a member of the team serving such a condition's village
        return db.session.scalar(
            sa.select(Staff.username).join(TeamMember, TeamMember.staff_id == Staff.id)
            .join(TeamServiceArea, TeamServiceArea.team_id == TeamMember.team_id)
            .join(Condition, Condition.region_code == TeamServiceArea.region_code)
            .where(condition_filter, Condition.deregistered_on.is_(None)).order_by(Staff.username).limit(1))

    doctors = {doctor_of(Condition.id.in_(sa.select(Notification.subject_id))), doctor_of(Condition.urgent),
               doctor_of(Condition.resident_id.in_(sa.select(Call.resident_id)))}
    items = []
    for username in sorted(doctors):
        headers = login(client, username, "jiayi-demo-2025")
        for window in ("overdue", "week"):
            body = client.get(f"/api/v1/follow-ups/due?scope=team&window={window}&page_size=100",
                              headers=headers).get_json()
            assert list(body) == ["items", "page", "page_size", "total"]
            items += body["items"]
    schema = DueItemSchema()
    for item in items:
        assert schema.dump(schema.load(item)) == item
        assert list(item) == list(schema.fields)
        assert list(item["resident"]) == list(DueResidentSchema().fields)
        assert item["last"] is None or list(item["last"]) == list(LastVisitSchema().fields)
        assert item["last_call"] is None or list(item["last_call"]) == list(LastCallSchema().fields)
    # What the list shows was there to be shown: visits, reminders and calls among the items.
    assert len(items) > 20
    assert any(i["last"] for i in items) and any(i["last_call"] for i in items)
    assert any(i["reminder"]["at"] for i in items) and any(i["urgent"] for i in items)


def test_the_due_list_follows_a_change_of_the_team_s_areas_at_once(client, world):
    """Each caller's due-list statement is built once per process and kept: a team given a new
    village lists its residents on the next request, and stops when the village is taken away."""
    from backend.directory.models import TeamServiceArea

    register(client, world["county"].headers(client, "doctor_b"), world["far"], registered_on="2025-01-01")
    register(client, world["doctor"], world["elder"], registered_on="2025-01-01")
    assert [i["resident"]["name"] for i in due(client, world["doctor"])] == ["高玉兰"]
    team_a = world["county"].teams["a"].id
    db.session.add(TeamServiceArea(team_id=team_a, region_code=VILLAGE_B1))
    db.session.commit()
    assert sorted(i["resident"]["name"] for i in due(client, world["doctor"])) == ["高玉兰", "鲁大成"]
    db.session.execute(sa.delete(TeamServiceArea).where(TeamServiceArea.team_id == team_a,
                                                        TeamServiceArea.region_code == VILLAGE_B1))
    db.session.commit()
    assert [i["resident"]["name"] for i in due(client, world["doctor"])] == ["高玉兰"]
