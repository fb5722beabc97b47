"""Referrals (转诊) through the HTTP API: the work lists, receiving and the returned result."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.followups.models import Condition, FollowUp
from backend.referrals.models import Referral
from backend.security.models import AccessLog
from tests.factories import VILLAGE_A1, VILLAGE_B1, account_login, add_resident, add_staff, id_number_for


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


@pytest.fixture
def world(client, wechat, county):
    at("2026-03-02T09:00:00+08:00")
    inst = county.institutions
    # The county hospital's doctor has the doctor role and no team; its admin office too.
    county.staff["hospital"] = add_staff("hospital-doc", "孙主任", "doctor", ["doctor"], inst["hospital"])
    county.staff["hospital_admin"] = add_staff("hospital-admin", "医院医务科", "admin", ["institution_admin"],
                                               inst["hospital"])
    db.session.commit()
    elder = add_resident("高玉兰", id_number_for(date(1956, 1, 20), 262), "13900001111", VILLAGE_A1)
    adult = add_resident("高建国", id_number_for(date(1975, 6, 1), 271), "13900002222", VILLAGE_A1)
    far = add_resident("鲁大成", id_number_for(date(1960, 1, 1), 281), "13900003333", VILLAGE_B1)
    family = account_login(client, wechat, "o-gao")
    bound = client.post("/api/v1/me/residents", headers=family, json={
        "name": "高玉兰", "id_number": elder.id_number, "phone": "13900001111", "relation": "parent"})
    assert bound.status_code == 201
    return {"county": county, "elder": elder, "adult": adult, "far": far, "family": family}


def refer(county, resident, *, team="a", doctor="doctor_a", to="hospital", referred_on=date(2026, 2, 20),
          urgent=False, disease="hypertension", next_due_on=date(2026, 3, 6)) -> Referral:
    """A referral as a follow-up's referral section makes it: the visit, its condition's
    schedule (at most 14 days after the visit) and the Referral row in state referred."""
    condition = db.session.scalar(sa.select(Condition).where(Condition.resident_id == resident.id,
                                                             Condition.disease == disease))
    if condition is None:
        condition = Condition(resident_id=resident.id, disease=disease, diagnosed_on=date(2020, 5, 1),
                              registered_on=date(2021, 1, 1), next_due_on=next_due_on)
        db.session.add(condition)
        db.session.flush()
    visit = FollowUp(id=str(uuid.uuid4()), resident_id=resident.id, condition_id=condition.id, disease=disease,
                     visited_on=referred_on, method="clinic", sbp=185, dbp=100, classification="uncontrolled",
                     on_target=False, refer=True, urgent_referral=urgent, referral_reasons=["sbp_ge_180"],
                     next_due_on=next_due_on, recorded_by_id=county.staff[doctor].id, body_hash="0" * 64)
    db.session.add(visit)
    condition.next_due_on, condition.last_follow_up_id, condition.last_visited_on = next_due_on, visit.id, referred_on
    institution = county.institutions[to] if to else None
    referral = Referral(follow_up_id=visit.id, resident_id=resident.id, disease=disease, urgent=urgent,
                        reason="血压≥180/110 mmHg", to_institution_id=institution.id if institution else None,
                        to_institution_name=institution.name if institution else "白城市中心医院",
                        department="心内科", referred_on=referred_on, referred_by_id=county.staff[doctor].id,
                        team_id=county.teams[team].id, status="referred")
    db.session.add(referral)
    db.session.commit()
    return referral


def headers(client, world, who: str) -> dict:
    return world["family"] if who == "account" else world["county"].headers(client, who)


def receive(client, h, referral, **body):
    return client.post(f"/api/v1/referrals/{referral.id}/receive", headers=h, json=body)


def result(client, h, referral, **body):
    return client.post(f"/api/v1/referrals/{referral.id}/result", headers=h, json={"result": "已调整降压方案", **body})


def listed(client, h, query="") -> list[dict]:
    response = client.get(f"/api/v1/referrals?{query}", headers=h)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def stored(referral) -> tuple:
    db.session.expire_all()
    row = db.session.get(Referral, referral.id)
    return (row.status, row.received_on, row.received_by_id, row.returned_on, row.result, row.diagnosis,
            row.result_by_id, row.updated_at)


# From the follow-up to the result

def test_a_follow_up_with_a_referral_section_reaches_the_hospital_and_its_result_comes_back(client, world):
    county, elder = world["county"], world["elder"]
    doctor, hospital = headers(client, world, "doctor_a"), headers(client, world, "hospital")
    registered = client.post(f"/api/v1/residents/{elder.id}/conditions", headers=doctor,
                             json={"disease": "hypertension", "diagnosed_on": "2020-05-01", "registered_on": "2025-01-01"})
    assert registered.status_code == 201, registered.get_json()
    visit = client.post(f"/api/v1/residents/{elder.id}/follow-ups", headers=doctor, json={
        "disease": "hypertension", "visited_on": "2026-03-02", "method": "clinic", "sbp": 186, "dbp": 112,
        "referral": {"reason": "血压≥180/110 mmHg", "institution_id": county.institutions["hospital"].id,
                     "department": "心内科"}})
    assert visit.status_code == 201, visit.get_json()
    due_on = visit.get_json()["next_due_on"]
    assert date.fromisoformat(due_on) <= date(2026, 3, 16)  # follow up on the referral within 2 weeks

    (sent,) = listed(client, doctor, "awaiting=true")
    assert (sent["follow_up_id"], sent["status"], sent["urgent"], sent["referred_on"]) == (
        visit.get_json()["id"], "referred", True, "2026-03-02")
    assert sent["to_institution"] == {"id": county.institutions["hospital"].id, "name": "洮北区人民医院"}
    assert sent["referred_by"]["name"] == "王医生" and sent["team"]["id"] == county.teams["a"].id
    assert sent["follow_up_due_on"] == due_on
    (incoming,) = listed(client, hospital, "view=incoming&awaiting=true")
    assert incoming["id"] == sent["id"] and incoming["resident"]["phone"] == "139****1111"

    at("2026-03-03T09:00:00+08:00")
    assert receive(client, hospital, incoming_ref(sent)).status_code == 200
    at("2026-03-06T16:00:00+08:00")
    answered = result(client, hospital, incoming_ref(sent), result="住院调整用药，血压150/90，回社区随访",
                      diagnosis="高血压3级")
    assert answered.status_code == 200, answered.get_json()
    assert listed(client, doctor, "awaiting=true") == []
    (back,) = listed(client, doctor, "returned_since=2026-03-06")
    assert (back["result"], back["diagnosis"], back["days_waiting"]) == ("住院调整用药，血压150/90，回社区随访", "高血压3级", 4)
    # The visit shows its referral's state and result too.
    visits = client.get(f"/api/v1/residents/{elder.id}/follow-ups", headers=doctor).get_json()["items"]
    assert visits[0]["referral"]["status"] == "returned" and visits[0]["referral"]["result"] == back["result"]


def incoming_ref(item: dict) -> Referral:
    return db.session.get(Referral, item["id"])


# Transitions

def test_hospital_receives_then_returns_the_result(client, world):
    county = world["county"]
    referral = refer(county, world["elder"])
    hospital = headers(client, world, "hospital")
    received = receive(client, hospital, referral, received_on="2026-02-21")
    assert received.status_code == 200, received.get_json()
    body = received.get_json()
    assert (body["status"], body["received_on"], body["received_by"]["name"]) == ("received", "2026-02-21", "孙主任")
    assert body["result"] is None and body["days_waiting"] == 10

    at("2026-03-05T10:00:00+08:00")
    returned = result(client, hospital, referral, diagnosis="高血压3级", result="  住院3天，血压平稳后回社区随访  ")
    assert returned.status_code == 200, returned.get_json()
    body = returned.get_json()
    assert (body["status"], body["returned_on"], body["result"], body["diagnosis"]) == (
        "returned", "2026-03-05", "住院3天，血压平稳后回社区随访", "高血压3级")
    assert body["result_by"] == {"id": county.staff["hospital"].id, "name": "孙主任"}
    assert body["days_waiting"] == 13  # referral to result, no longer counting


def test_result_may_come_without_receiving_first(client, world):
    referral = refer(world["county"], world["elder"])
    response = result(client, headers(client, world, "hospital"), referral, returned_on="2026-02-20")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["received_on"], body["returned_on"]) == ("returned", None, "2026-02-20")


def test_returned_referral_takes_no_further_step(client, world):
    referral = refer(world["county"], world["elder"])
    hospital = headers(client, world, "hospital")
    assert result(client, hospital, referral).status_code == 200
    before = stored(referral)
    for response in (receive(client, hospital, referral), result(client, hospital, referral, result="再次回转")):
        assert response.status_code == 409 and response.get_json()["code"] == "invalid_transition"
    assert stored(referral) == before


def test_receiving_twice_is_409(client, world):
    referral = refer(world["county"], world["elder"])
    hospital = headers(client, world, "hospital")
    assert receive(client, hospital, referral).status_code == 200
    before = stored(referral)
    again = receive(client, headers(client, world, "hospital_admin"), referral)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    assert stored(referral) == before


def test_referring_team_records_the_paper_result_of_an_institution_outside_the_directory(client, world):
    referral = refer(world["county"], world["elder"], to=None)
    team = headers(client, world, "nurse_a")
    refused = receive(client, team, referral)
    assert refused.status_code == 403  # only a receiving institution in the directory receives
    response = result(client, team, referral, result="患者带回市医院出院小结：继续服药")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["to_institution"] == {"id": None, "name": "白城市中心医院"} and body["status"] == "returned"
    assert body["result_by"]["name"] == "李护士"


# Who may do what

CALLERS = ("doctor_a", "village_doctor", "doctor_b", "hospital", "hospital_admin", "inst_admin_b", "account",
           "county_admin")

# To the county hospital, referred by team a: (read, receive, result) per caller.
DIRECTORY = {
    "doctor_a": (200, 403, 403),        # the referring team
    "village_doctor": (200, 403, 403),  # the referring team
    "doctor_b": (404, 404, 404),        # another team
    "hospital": (200, 200, 200),        # the receiving institution
    "hospital_admin": (200, 200, 200),  # the receiving institution
    "inst_admin_b": (404, 404, 404),    # another institution
    "account": (403, 403, 403),         # the resident's own account: staff endpoints
    "county_admin": (404, 404, 404),
}
# To an institution outside the directory: the referring team records the result.
OUTSIDE = {
    "doctor_a": (200, 403, 200),
    "village_doctor": (200, 403, 200),
    "doctor_b": (404, 404, 404),
    "hospital": (404, 404, 404),
    "hospital_admin": (404, 404, 404),
    "inst_admin_b": (404, 404, 404),
    "account": (403, 403, 403),
    "county_admin": (404, 404, 404),
}


@pytest.mark.parametrize("to, table", [("hospital", DIRECTORY), (None, OUTSIDE)])
@pytest.mark.parametrize("caller", CALLERS)
def test_who_reads_receives_and_returns_a_referral(client, world, caller, to, table):
    referral = refer(world["county"], world["elder"], to=to)
    h = headers(client, world, caller)
    read_status, receive_status, result_status = table[caller]
    before = stored(referral)
    read = client.get(f"/api/v1/referrals/{referral.id}", headers=h)
    assert read.status_code == read_status, read.get_json()
    if read_status != 200:
        assert "高玉兰" not in read.get_data(as_text=True)
    received = receive(client, h, referral)
    assert received.status_code == receive_status, received.get_json()
    if receive_status != 200:
        assert stored(referral) == before
        assert "高玉兰" not in received.get_data(as_text=True)
    returned = result(client, h, referral)
    assert returned.status_code == result_status, returned.get_json()
    if result_status == 200:
        assert returned.get_json()["status"] == "returned"


# The lists each caller gets: the referral's presence, or the status for a refused view.
LISTS = {
    "doctor_a": {"team": True, "mine": True, "incoming": False},
    "village_doctor": {"team": True, "mine": False, "incoming": False},
    "doctor_b": {"team": False, "mine": False, "incoming": False},
    "hospital": {"team": False, "mine": False, "incoming": True},
    "hospital_admin": {"team": 403, "mine": 403, "incoming": True},
    "inst_admin_b": {"team": 403, "mine": 403, "incoming": False},
    "account": {"team": 403, "mine": 403, "incoming": 403},
    "county_admin": {"team": 403, "mine": 403, "incoming": 403},
}


@pytest.mark.parametrize("view", ["team", "mine", "incoming"])
@pytest.mark.parametrize("caller", CALLERS)
def test_who_gets_which_list(client, world, caller, view):
    referral = refer(world["county"], world["elder"])
    response = client.get(f"/api/v1/referrals?view={view}", headers=headers(client, world, caller))
    expected = LISTS[caller][view]
    if expected == 403:
        assert response.status_code == 403
        assert "高玉兰" not in response.get_data(as_text=True)
        return
    assert response.status_code == 200, response.get_json()
    assert [item["id"] for item in response.get_json()["items"]] == ([referral.id] if expected else [])


def test_team_is_the_default_view(client, world):
    referral = refer(world["county"], world["elder"])
    assert [item["id"] for item in listed(client, headers(client, world, "nurse_a"))] == [referral.id]


# The lists

def test_awaiting_list_keeps_a_referral_until_the_hospital_returns_its_result(client, world):
    county = world["county"]
    referral = refer(county, world["elder"])
    doctor, hospital = headers(client, world, "doctor_a"), headers(client, world, "hospital")
    assert [i["id"] for i in listed(client, doctor, "awaiting=true")] == [referral.id]
    assert [i["id"] for i in listed(client, hospital, "view=incoming&status=referred")] == [referral.id]

    at("2026-03-03T09:00:00+08:00")
    assert receive(client, hospital, referral).status_code == 200
    (item,) = listed(client, doctor, "awaiting=true")
    assert (item["status"], item["received_on"], item["days_waiting"]) == ("received", "2026-03-03", 11)
    assert listed(client, hospital, "view=incoming&status=referred") == []

    at("2026-03-04T09:00:00+08:00")
    assert result(client, hospital, referral, result="冠脉CTA未见狭窄，继续原方案").status_code == 200
    assert listed(client, doctor, "awaiting=true") == []
    (back,) = listed(client, doctor, "returned_since=2026-03-04")
    assert (back["status"], back["returned_on"], back["result"]) == ("returned", "2026-03-04", "冠脉CTA未见狭窄，继续原方案")
    assert back["result_by"]["name"] == "孙主任"
    assert listed(client, doctor, "returned_since=2026-03-05") == []
    assert [i["id"] for i in listed(client, doctor, "status=returned")] == [referral.id]


def test_list_item_shows_the_referral_and_when_to_follow_up(client, world):
    county = world["county"]
    referral = refer(county, world["elder"], urgent=True, next_due_on=date(2026, 3, 6))
    (item,) = listed(client, headers(client, world, "doctor_a"))
    assert item["resident"] == {"id": world["elder"].id, "name": "高玉兰", "phone": "139****1111", "age": 70,
                                "region": "平安村", "region_code": VILLAGE_A1}
    assert item["to_institution"] == {"id": county.institutions["hospital"].id, "name": "洮北区人民医院"}
    assert item["referred_by"] == {"id": county.staff["doctor_a"].id, "name": "王医生"}
    assert item["team"] == {"id": county.teams["a"].id, "name": "平安镇家医一队"}
    assert (item["follow_up_id"], item["disease"], item["urgent"], item["reason"], item["department"]) == (
        referral.follow_up_id, "hypertension", True, "血压≥180/110 mmHg", "心内科")
    assert (item["referred_on"], item["status"], item["days_waiting"]) == ("2026-02-20", "referred", 10)
    assert item["follow_up_due_on"] == "2026-03-06"
    assert item["result_by"] is None and item["returned_on"] is None


def test_list_has_urgent_first_then_the_longest_waiting(client, world):
    county = world["county"]
    late = refer(county, world["elder"], referred_on=date(2026, 2, 25))
    early = refer(county, world["adult"], referred_on=date(2026, 2, 10))
    urgent = refer(county, world["elder"], disease="diabetes", referred_on=date(2026, 2, 28), urgent=True)
    refer(county, world["far"], team="b", doctor="doctor_b")
    doctor = headers(client, world, "doctor_a")
    assert [i["id"] for i in listed(client, doctor)] == [urgent.id, early.id, late.id]
    page = client.get("/api/v1/referrals?page=2&page_size=2", headers=doctor).get_json()
    assert ([i["id"] for i in page["items"]], page["total"]) == ([late.id], 3)
    past_the_end = client.get("/api/v1/referrals?page=3&page_size=2", headers=doctor).get_json()
    assert (past_the_end["items"], past_the_end["total"]) == ([], 3)


def test_mine_lists_only_the_callers_own_referrals(client, world):
    county = world["county"]
    own = refer(county, world["elder"], doctor="nurse_a")
    refer(county, world["adult"], doctor="doctor_a")
    assert [i["id"] for i in listed(client, headers(client, world, "nurse_a"), "view=mine")] == [own.id]


def test_listing_and_reading_are_logged_for_the_residents_shown(client, world):
    county = world["county"]
    first = refer(county, world["elder"], referred_on=date(2026, 2, 1))
    refer(county, world["adult"], referred_on=date(2026, 2, 2))
    refer(county, world["far"], team="b", doctor="doctor_b")
    hospital = headers(client, world, "hospital")
    assert len(listed(client, hospital, "view=incoming&page_size=2")) == 2
    logged = db.session.execute(sa.select(AccessLog.resident_id, AccessLog.actor_name, AccessLog.action)
                                .where(AccessLog.action == "GET /api/v1/referrals")).all()
    assert sorted(logged) == sorted([(world["elder"].id, "孙主任", "GET /api/v1/referrals"),
                                     (world["adult"].id, "孙主任", "GET /api/v1/referrals")])
    assert client.get(f"/api/v1/referrals/{first.id}", headers=hospital).status_code == 200
    read = db.session.scalars(sa.select(AccessLog.resident_id)
                              .where(AccessLog.action == "GET /api/v1/referrals/{referral_id}")).all()
    assert read == [world["elder"].id]


def test_a_refused_read_is_not_logged(client, world):
    referral = refer(world["county"], world["elder"])
    assert client.get(f"/api/v1/referrals/{referral.id}", headers=headers(client, world, "doctor_b")).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessLog)
                             .where(AccessLog.action.like("%referrals%"))) == 0


# Bad inputs: 422 naming the field, and no row changed

@pytest.mark.parametrize("step, body, field", [
    ("result", {"result": ""}, "result"),
    ("result", {"result": "   "}, "result"),
    ("result", {"result": None}, "result"),
    ("result", {"returned_on": "2026-03-01"}, "result"),  # missing
    ("result", {"result": "x" * 1001}, "result"),
    ("result", {"result": "好", "diagnosis": "x" * 201}, "diagnosis"),
    ("result", {"result": "好", "returned_on": "2026-03-03"}, "returned_on"),  # tomorrow
    ("result", {"result": "好", "returned_on": "2026-02-19"}, "returned_on"),  # before the referral
    ("result", {"result": "好", "returned_on": "2026-02-21"}, "returned_on"),  # before it was received
    ("result", {"result": "好", "outcome": "ok"}, "outcome"),
    ("receive", {"received_on": "2026-03-03"}, "received_on"),
    ("receive", {"received_on": "2026-02-19"}, "received_on"),
    ("receive", {"received_on": "yesterday"}, "received_on"),
])
def test_bad_inputs_are_422_naming_the_field_and_change_nothing(client, world, step, body, field):
    referral = refer(world["county"], world["elder"])
    hospital = headers(client, world, "hospital")
    if step == "result":
        assert receive(client, hospital, referral, received_on="2026-02-22").status_code == 200
    before = stored(referral)
    response = client.post(f"/api/v1/referrals/{referral.id}/{step}", headers=hospital, json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == "validation_error" and field in response.get_json()["errors"]
    assert stored(referral) == before


def test_unknown_referral_is_404(client, world):
    response = client.get(f"/api/v1/referrals/{uuid.uuid4()}", headers=headers(client, world, "hospital"))
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


@pytest.mark.parametrize("query, field", [("view=all", "view"), ("status=lost", "status"),
                                          ("returned_since=soon", "returned_since"), ("awaiting=maybe", "awaiting")])
def test_bad_list_queries_are_422(client, world, query, field):
    response = client.get(f"/api/v1/referrals?{query}", headers=headers(client, world, "doctor_a"))
    assert response.status_code == 422 and field in response.get_json()["errors"]
