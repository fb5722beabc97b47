"""Contract fulfilment (履约) and call outcomes through the HTTP API, with hand-counted
expectations for the proration and the automatic counting of follow-ups."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from backend import clock
from backend.extensions import db
from backend.notifications.models import Notification
from tests.factories import VILLAGE_A1, VILLAGE_B1, account_login, add_resident, id_number_for

ITEMS = [
    {"code": "health_check_65", "name": "老年人年度健康体检", "per_year": 1, "eligible_groups": ["elderly_65"]},
    {"code": "bp_follow_up", "name": "高血压随访", "per_year": 4, "eligible_groups": ["hypertension"],
     "follow_up_disease": "hypertension"},
    {"code": "fpg_follow_up", "name": "糖尿病随访", "per_year": 4, "eligible_groups": ["diabetes"],
     "follow_up_disease": "diabetes"},
    {"code": "health_education", "name": "健康教育", "per_year": 2, "eligible_groups": []},
    {"code": "tcm_guidance", "name": "中医药健康管理", "per_year": 1, "eligible_groups": ["elderly_65"]},
]


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


@pytest.fixture
def world(client, wechat, county):
    """An elderly hypertensive resident signed on 2026-03-02 (term to 2027-03-01, 365 days)."""
    at("2026-03-02T09:00:00+08:00")
    county.packages["basic"].items = ITEMS
    db.session.commit()
    elder = add_resident("高玉兰", id_number_for(date(1956, 1, 20), 262), "13900001111", VILLAGE_A1)
    young = add_resident("高小军", id_number_for(date(1990, 6, 1), 271), "13900002222", VILLAGE_A1)
    doctor = county.headers(client, "doctor_a")
    family = account_login(client, wechat, "o-gao")
    assert client.post("/api/v1/me/residents", headers=family, json={
        "name": "高玉兰", "id_number": elder.id_number, "phone": "13900001111", "relation": "parent"}).status_code == 201
    condition = client.post(f"/api/v1/residents/{elder.id}/conditions", headers=doctor,
                            json={"disease": "hypertension", "diagnosed_on": "2020-05-01"}).get_json()
    contract = sign(client, doctor, county, elder)
    return {"county": county, "elder": elder, "young": young, "doctor": doctor, "family": family,
            "contract": contract, "condition": condition}


def sign(client, doctor, county, resident, start="2026-03-02"):
    created = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": resident.id, "team_id": county.teams["a"].id, "package_codes": ["basic"]})
    assert created.status_code == 201, created.get_json()
    approved = client.post(f"/api/v1/contracts/{created.get_json()['id']}/approve", headers=doctor,
                           json={"start_date": start})
    assert approved.status_code == 200, approved.get_json()
    return approved.get_json()


def visit(client, headers, resident, day, method="clinic", visit_id=None):
    return client.post(f"/api/v1/residents/{resident.id}/follow-ups", headers=headers, json={
        "id": visit_id or str(uuid.uuid4()), "disease": "hypertension", "visited_on": day, "method": method,
        "sbp": 132, "dbp": 82})


def deliver(client, headers, resident, item_code, day, method="clinic", **extra):
    return client.post(f"/api/v1/residents/{resident.id}/services", headers=headers, json={
        "item_code": item_code, "delivered_on": day, "method": method, **extra})


def fulfilment(client, headers, contract_id):
    response = client.get(f"/api/v1/contracts/{contract_id}/fulfilment", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def by_code(view) -> dict:
    return {i["code"]: (i["owed"], i["delivered"], i["remaining"], i["owed_by_today"]) for i in view["items"]}


def test_acceptance_six_months_in_with_a_health_check_and_two_face_to_face_follow_ups(client, world):
    elder, doctor = world["elder"], world["doctor"]
    # Copied when signed: the items for everyone and for the resident's groups (not diabetes).
    assert {i["code"] for i in fulfilment(client, doctor, world["contract"]["id"])["items"]} == \
        {"health_check_65", "bp_follow_up", "health_education", "tcm_guidance"}

    first = str(uuid.uuid4())
    assert visit(client, doctor, elder, "2026-03-02", visit_id=first).status_code == 201
    at("2026-04-10T09:00:00+08:00")
    assert deliver(client, doctor, elder, "health_check_65", "2026-04-10").status_code == 201
    at("2026-06-01T09:00:00+08:00")
    assert visit(client, doctor, elder, "2026-06-01", method="home").status_code == 201
    at("2026-06-15T09:00:00+08:00")
    assert visit(client, doctor, elder, "2026-06-15", method="phone").status_code == 201  # not face to face

    at("2026-09-01T10:00:00+08:00")  # 184 of the term's 365 days have passed (both ends counted)
    # The first visit sent again (the app lost the answer): stored once, counted once.
    assert visit(client, doctor, elder, "2026-03-02", visit_id=first).status_code == 200
    view = fulfilment(client, world["family"], world["contract"]["id"])
    assert view["as_of"] == "2026-09-01"
    # (owed, delivered, remaining, owed by today): 4 × 184 // 365 = 2, 2 × 184 // 365 = 1.
    assert by_code(view) == {"health_check_65": (1, 1, 0, 0), "bp_follow_up": (4, 2, 2, 2),
                             "health_education": (2, 0, 2, 1), "tcm_guidance": (1, 0, 1, 0)}
    assert {i["code"]: i["counted_from"] for i in view["items"]}["bp_follow_up"] == "follow_ups"
    assert (view["status"], view["behind_by"], view["remaining"]) == ("behind", 1, 5)

    assert deliver(client, world["county"].headers(client, "nurse_a"), elder, "health_education", "2026-08-20",
                   method="group").status_code == 201
    view = fulfilment(client, doctor, world["contract"]["id"])
    assert view["status"] == "on_track" and view["behind_by"] == 0

    record = client.get(f"/api/v1/residents/{elder.id}/health-record", headers=world["family"]).get_json()
    assert record["fulfilment"]["status"] == "on_track"
    assert [s["item_code"] for s in record["services"]] == ["health_education", "health_check_65"]


def test_the_counts_kept_on_the_items_and_the_contract_follow_every_write(app, client, world):
    """The work list and the fulfilment views read what each item delivered and how far the
    contract is behind as stored by the writes; each kind of write counts them again, and a day
    not yet counted by the nightly job is counted from the items."""
    from backend.contracts.models import Contract
    from tests.factories import counts_kept

    elder, doctor, contract_id = world["elder"], world["doctor"], world["contract"]["id"]
    url = f"/api/v1/teams/{world['county'].teams['a'].id}/fulfilment?kind=behind"
    # Approved today: nothing delivered, taken for today.
    assert counts_kept(contract_id) == {"health_check_65": 0, "bp_follow_up": 0, "health_education": 0,
                                        "tcm_guidance": 0}
    assert db.session.get(Contract, contract_id).behind_on == clock.today()
    assert visit(client, doctor, elder, "2026-03-02").status_code == 201
    assert counts_kept(contract_id)["bp_follow_up"] == 1
    at("2026-06-15T09:00:00+08:00")
    assert visit(client, doctor, elder, "2026-06-15", method="phone").status_code == 201  # not face to face
    assert visit(client, doctor, elder, "2026-03-02").status_code == 201  # the same day under another id
    assert counts_kept(contract_id)["bp_follow_up"] == 1
    assert deliver(client, doctor, elder, "health_education", "2026-06-15").status_code == 201
    assert deliver(client, doctor, elder, "health_check_65", "2026-06-14").status_code == 201
    assert counts_kept(contract_id) == {"health_check_65": 1, "bp_follow_up": 1, "health_education": 1,
                                        "tcm_guidance": 0}
    stored = db.session.get(Contract, contract_id)
    assert (stored.behind_on, stored.behind_by) == (date(2026, 6, 15), 0)
    # A refused write changes no count.
    assert deliver(client, doctor, elder, "no_such_item", "2026-06-15").status_code == 422
    assert counts_kept(contract_id)["health_education"] == 1

    at("2026-09-01T10:00:00+08:00")  # 4 x 184 // 365 = 2 visits owed, 1 made: behind by 1
    listed = client.get(url, headers=doctor).get_json()  # not counted for today yet: from the items
    assert [(i["contract_id"], i["behind_by"]) for i in listed["items"]] == [(contract_id, 1)]
    assert db.session.get(Contract, contract_id).behind_on == date(2026, 6, 15)
    result = app.test_cli_runner().invoke(args=["run-job", "expire-contracts", "--now", "2026-09-01T00:10:00+08:00"])
    assert result.exit_code == 0 and '"behind_counted": 1' in result.output, result.output
    db.session.expire_all()
    stored = db.session.get(Contract, contract_id)
    assert (stored.behind_on, stored.behind_by) == (date(2026, 9, 1), 1)
    assert client.get(url, headers=doctor).get_json() == listed
    # The nightly job counts a day once.
    again = app.test_cli_runner().invoke(args=["run-job", "expire-contracts", "--now", "2026-09-01T00:20:00+08:00"])
    assert '"behind_counted": 0' in again.output, again.output
    assert visit(client, doctor, elder, "2026-09-01", method="home").status_code == 201
    assert counts_kept(contract_id)["bp_follow_up"] == 2
    assert client.get(url, headers=doctor).get_json()["items"] == []


def test_a_session_that_loaded_the_contract_reads_the_counts_its_own_write_changed(world):
    """A write in a session that already holds the contract and its items: after the flush they
    read the new counts (the count is written in SQL, past the loaded objects); a loaded
    contract the write did not change keeps what it holds."""
    from sqlalchemy import inspect

    from backend.contracts.models import Contract
    from backend.fulfilment.models import ServiceDelivery

    elder, contract_id = world["elder"], world["contract"]["id"]
    db.session.expire_all()
    contract = db.session.get(Contract, contract_id)
    items = {i.code: i for i in contract.items}
    assert items["health_education"].delivered == 0
    assert (contract.behind_on, contract.behind_by) == (date(2026, 3, 2), 0)
    at("2026-09-01T10:00:00+08:00")  # behind by then: the visits and the check owed by September
    db.session.add(ServiceDelivery(id=str(uuid.uuid4()), resident_id=elder.id, item_code="health_education",
                                   delivered_on=date(2026, 9, 1), method="group",
                                   recorded_by_id=world["county"].staff["doctor_a"].id, body_hash="x"))
    db.session.flush()
    assert "delivered" in inspect(items["health_education"]).expired_attributes
    assert "delivered" not in inspect(items["bp_follow_up"]).expired_attributes  # unchanged: kept
    assert items["health_education"].delivered == 1
    assert contract.behind_on == date(2026, 9, 1) and contract.behind_by > 0
    db.session.rollback()


def test_a_contract_is_complete_when_every_item_is_delivered(client, world):
    elder, doctor = world["elder"], world["doctor"]
    for day in ("2026-03-02", "2026-05-02", "2026-07-02", "2026-09-02"):
        at(day + "T09:00:00+08:00")
        assert visit(client, doctor, elder, day).status_code == 201
    for code, day in (("health_check_65", "2026-03-05"), ("health_education", "2026-04-01"),
                      ("health_education", "2026-08-01"), ("tcm_guidance", "2026-05-05")):
        assert deliver(client, doctor, elder, code, day).status_code == 201
    view = fulfilment(client, doctor, world["contract"]["id"])
    assert view["status"] == "complete" and view["remaining"] == 0


@pytest.mark.parametrize("owed, passed, expected", [(4, 91, 0), (4, 92, 1), (4, 365, 4), (2, 183, 1), (1, 364, 0)])
def test_proration_rounds_down(owed, passed, expected):
    from datetime import timedelta

    from backend.fulfilment.rules import owed_by

    start = date(2026, 3, 2)
    assert owed_by(owed, start, date(2027, 3, 1), start + timedelta(days=passed - 1)) == expected


def test_a_resent_service_is_stored_once_and_another_body_on_its_id_is_409(client, world):
    body = {"id": str(uuid.uuid4()), "item_code": "health_education", "delivered_on": "2026-03-02",
            "method": "group"}
    url = f"/api/v1/residents/{world['elder'].id}/services"
    assert client.post(url, headers=world["doctor"], json=body).status_code == 201
    again = client.post(url, headers=world["doctor"], json=body)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    other = client.post(url, headers=world["doctor"], json={**body, "method": "clinic"})
    assert other.status_code == 409 and other.get_json()["code"] == "id_conflict"
    listed = client.get(url, headers=world["family"]).get_json()
    assert listed["total"] == 1


@pytest.mark.parametrize("body, field", [
    ({"item_code": "fpg_follow_up"}, "item_code"),            # not owed to this resident
    ({"item_code": "bp_follow_up"}, "item_code"),             # counted from follow-ups
    ({"item_code": "nonexistent"}, "item_code"),
    ({"delivered_on": "2026-03-01"}, "delivered_on"),         # before the term
    ({"delivered_on": "2026-03-03"}, "delivered_on"),         # in the future
    ({"method": "telepathy"}, "method"),
    ({"notes": "x" * 501}, "notes"),
    ({"delivered_on": "2026-13-01"}, "delivered_on"),
])
def test_bad_services_are_422_naming_the_field_and_store_nothing(client, world, body, field):
    payload = {"item_code": "health_education", "delivered_on": "2026-03-02", "method": "clinic", **body}
    response = client.post(f"/api/v1/residents/{world['elder'].id}/services", headers=world["doctor"],
                           json=payload)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert client.get(f"/api/v1/residents/{world['elder'].id}/services",
                      headers=world["doctor"]).get_json()["total"] == 0


@pytest.mark.parametrize("who, status", [("nurse_a", 201), ("village_doctor", 201), ("doctor_b", 404),
                                         ("county_admin", 403), ("inst_admin", 403)])
def test_who_may_record_a_service(client, world, who, status):
    response = deliver(client, world["county"].headers(client, who), world["elder"], "health_education",
                       "2026-03-02")
    assert response.status_code == status, response.get_json()


def test_a_team_member_outside_the_contract_s_team_is_refused(client, world):
    # The resident moves to team b's village: team b sees the resident, the contract stays team a's.
    admin = world["county"].headers(client, "county_admin")
    assert client.patch(f"/api/v1/residents/{world['elder'].id}", headers=admin,
                        json={"region_code": VILLAGE_B1}).status_code == 200
    response = deliver(client, world["county"].headers(client, "doctor_b"), world["elder"], "health_education",
                       "2026-03-02")
    assert response.status_code == 403


def test_accounts_read_their_own_fulfilment_only(client, world, wechat):
    contract_id = world["contract"]["id"]
    assert client.post(f"/api/v1/residents/{world['elder'].id}/services", headers=world["family"], json={
        "item_code": "health_education", "delivered_on": "2026-03-02", "method": "clinic"}).status_code == 403
    stranger = account_login(client, wechat, "o-stranger")
    assert client.get(f"/api/v1/contracts/{contract_id}/fulfilment", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/contracts/{contract_id}/fulfilment",
                      headers=world["county"].headers(client, "doctor_other")).status_code == 404
    assert client.get(f"/api/v1/contracts/{contract_id}/fulfilment").status_code == 401
    assert client.get("/api/v1/contracts/nope/fulfilment", headers=world["doctor"]).status_code == 404
    log = client.get(f"/api/v1/residents/{world['elder'].id}/access-log", headers=world["family"]).get_json()
    assert "GET /api/v1/contracts/{contract_id}/fulfilment" not in [e["action"] for e in log["items"]]
    fulfilment(client, world["doctor"], contract_id)
    log = client.get(f"/api/v1/residents/{world['elder'].id}/access-log", headers=world["family"]).get_json()
    assert "GET /api/v1/contracts/{contract_id}/fulfilment" in [e["action"] for e in log["items"]]


def test_a_pending_contract_has_no_fulfilment_yet(client, world):
    created = client.post("/api/v1/contracts", headers=world["doctor"], json={
        "resident_id": world["young"].id, "team_id": world["county"].teams["a"].id, "package_codes": ["basic"]})
    response = client.get(f"/api/v1/contracts/{created.get_json()['id']}/fulfilment", headers=world["doctor"])
    assert response.status_code == 409 and response.get_json()["code"] == "contract_not_started"


def test_the_team_work_list_shows_who_is_behind_and_what_ends_with_items_owed(client, world):
    doctor, county = world["doctor"], world["county"]
    at("2026-03-02T09:00:00+08:00")
    sign(client, doctor, county, world["young"], start="2026-03-02")
    at("2026-09-01T10:00:00+08:00")
    assert deliver(client, doctor, world["young"], "health_education", "2026-05-01").status_code == 201
    url = f"/api/v1/teams/{county.teams['a'].id}/fulfilment"
    behind = client.get(url + "?kind=behind", headers=doctor).get_json()
    # The elder owes 2 follow-ups and 1 health education by today; the young one is on track.
    assert [(i["resident"]["name"], i["behind_by"]) for i in behind["items"]] == [("高玉兰", 3)]
    assert behind["items"][0]["resident"]["phone"] == "139****1111"
    assert client.get(url + "?kind=ending", headers=doctor).get_json()["items"] == []

    at("2027-01-15T10:00:00+08:00")  # both terms end on 2027-03-01, within 60 days
    ending = client.get(url + "?kind=ending", headers=doctor).get_json()
    assert [(i["resident"]["name"], i["remaining"]) for i in ending["items"]] == [("高玉兰", 8), ("高小军", 1)]
    assert client.get(url + "?kind=soon", headers=doctor).status_code == 422
    assert client.get(url, headers=county.headers(client, "doctor_b")).status_code == 403
    assert client.get(url, headers=county.headers(client, "inst_admin")).status_code == 200


# Calls

def call(client, headers, resident, outcome, **extra):
    return client.post(f"/api/v1/residents/{resident.id}/calls", headers=headers, json={"outcome": outcome, **extra})


def the_contract(client, headers, world) -> dict:
    history = client.get(f"/api/v1/residents/{world['elder'].id}/contracts", headers=headers).get_json()["items"]
    return next(c for c in history if c["id"] == world["contract"]["id"])


def due(client, headers):
    response = client.get("/api/v1/follow-ups/due?window=overdue", headers=headers)
    assert response.status_code == 200
    return response.get_json()["items"]


def test_acceptance_a_moved_away_call_confirmed_terminates_the_contract_and_leaves_the_due_list(client, world):
    elder, doctor = world["elder"], world["doctor"]
    at("2026-04-01T10:00:00+08:00")  # the first follow-up was due on 2026-03-16
    assert [i["resident"]["name"] for i in due(client, doctor)] == ["高玉兰"]
    made = call(client, doctor, elder, "moved_away", notes="家属称已随子女去长春")
    assert made.status_code == 201
    assert (made.get_json()["outcome"], made.get_json()["confirmation"]) == ("moved_away", "pending")
    # Nothing ends before the confirmation.
    assert the_contract(client, doctor, world)["status"] == "active"
    assert len(due(client, doctor)) == 1

    confirmed = client.post(f"/api/v1/residents/{elder.id}/calls/{made.get_json()['id']}/confirm",
                            headers=world["county"].headers(client, "nurse_a"), json={"confirm": True})
    assert confirmed.status_code == 200 and confirmed.get_json()["confirmation"] == "confirmed"
    contract = the_contract(client, doctor, world)
    assert (contract["status"], contract["reason"], contract["ended_on"]) == ("terminated", "迁出本地", "2026-04-01")
    conditions = client.get(f"/api/v1/residents/{elder.id}/conditions", headers=doctor).get_json()
    assert [(c["deregistered_on"], c["deregistration_reason"]) for c in conditions] == \
        [("2026-04-01", "moved_away")]
    assert due(client, doctor) == []
    again = client.post(f"/api/v1/residents/{elder.id}/calls/{made.get_json()['id']}/confirm", headers=doctor,
                        json={"confirm": True})
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    record = client.get(f"/api/v1/residents/{elder.id}/health-record", headers=world["family"]).get_json()
    assert [(c["outcome"], c["confirmation"]) for c in record["calls"]] == [("moved_away", "confirmed")]


def test_a_death_dismissed_changes_nothing(client, world):
    made = call(client, world["doctor"], world["elder"], "died").get_json()
    dismissed = client.post(f"/api/v1/residents/{world['elder'].id}/calls/{made['id']}/confirm",
                            headers=world["doctor"], json={"confirm": False})
    assert dismissed.get_json()["confirmation"] == "dismissed"
    assert the_contract(client, world["doctor"], world)["status"] == "active"


def test_a_promise_to_come_takes_the_resident_off_the_call_list_for_seven_days(client, world):
    elder, doctor = world["elder"], world["doctor"]
    at("2026-04-01T10:00:00+08:00")
    condition = world["condition"]
    db.session.add(Notification(idempotency_key="k1", resident_id=elder.id, reason="follow_up",
                                subject_id=condition["id"], due_on=date(2026, 3, 16), step="due_day",
                                template_id="t", page="p", data={}, send_after=clock.now(), status="failed"))
    db.session.commit()
    assert due(client, doctor)[0]["needs_call"] is True
    assert call(client, doctor, elder, "no_answer").status_code == 201
    item = due(client, doctor)[0]
    assert item["needs_call"] is True and item["last_call"]["outcome"] == "no_answer"
    assert call(client, doctor, elder, "reached_will_visit").status_code == 201
    assert due(client, doctor)[0]["needs_call"] is False
    at("2026-04-07T23:00:00+08:00")
    assert due(client, doctor)[0]["needs_call"] is False
    at("2026-04-08T10:30:00+08:00")  # seven days on: back on the list until the visit
    assert due(client, doctor)[0]["needs_call"] is True


def test_a_wrong_number_asks_staff_to_fix_the_phone_until_it_is_changed(client, world):
    elder, doctor = world["elder"], world["doctor"]
    assert call(client, doctor, elder, "wrong_number").status_code == 201
    shown = client.get(f"/api/v1/residents/{elder.id}", headers=doctor).get_json()
    assert shown["phone_wrong"] is True
    assert client.patch(f"/api/v1/residents/{elder.id}", headers=doctor,
                        json={"phone": "13900009999"}).status_code == 200
    assert client.get(f"/api/v1/residents/{elder.id}", headers=doctor).get_json()["phone_wrong"] is False


def test_a_call_sent_again_under_its_client_id_is_stored_once(client, world):
    """A phone that recorded a call offline may send it twice (the answer lost on the way back):
    the second send answers the stored call; another call under the same id is refused."""
    elder, doctor = world["elder"], world["doctor"]
    body = {"id": "5b3c1f3e-0c55-4c8e-9a51-3c6f1e2d7a10", "outcome": "wrong_number", "notes": "空号",
            "called_at": "2026-03-02T08:30:00+08:00"}
    url = f"/api/v1/residents/{elder.id}/calls"
    first = client.post(url, headers=doctor, json=body)
    assert first.status_code == 201 and first.get_json()["id"] == body["id"]
    again = client.post(url, headers=doctor, json=body)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    other = client.post(url, headers=doctor, json={**body, "outcome": "no_answer"})
    assert other.status_code == 409 and other.get_json()["code"] == "id_conflict"
    assert [c["id"] for c in client.get(url, headers=doctor).get_json()["items"]] == [body["id"]]
    assert client.get(f"/api/v1/residents/{elder.id}", headers=doctor).get_json()["phone_wrong"] is True
    bad = client.post(url, headers=doctor, json={**body, "id": "not-a-uuid"})
    assert bad.status_code == 422 and "id" in bad.get_json()["errors"]


@pytest.mark.parametrize("body, field", [
    ({"outcome": "busy"}, "outcome"), ({}, "outcome"), ({"outcome": "no_answer", "called_at": "2026-03-02T09:00"},
                                                         "called_at"),
    ({"outcome": "no_answer", "called_at": "2026-03-03T09:00:00+08:00"}, "called_at"),
    ({"outcome": "no_answer", "notes": "x" * 501}, "notes"),
])
def test_bad_calls_are_422_and_store_nothing(client, world, body, field):
    response = client.post(f"/api/v1/residents/{world['elder'].id}/calls", headers=world["doctor"], json=body)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert client.get(f"/api/v1/residents/{world['elder'].id}/calls", headers=world["doctor"]).get_json()["items"] == []


@pytest.mark.parametrize("who, status", [("nurse_a", 201), ("doctor_b", 404), ("county_admin", 403)])
def test_who_may_record_a_call(client, world, who, status):
    assert call(client, world["county"].headers(client, who), world["elder"], "no_answer").status_code == status
    assert call(client, world["family"], world["elder"], "no_answer").status_code == 403


def test_confirming_needs_a_pending_call_of_this_resident(client, world):
    doctor = world["doctor"]
    made = call(client, doctor, world["elder"], "no_answer").get_json()
    url = f"/api/v1/residents/{world['elder'].id}/calls/{made['id']}/confirm"
    assert client.post(url, headers=doctor, json={"confirm": True}).status_code == 409
    assert client.post(url, headers=doctor, json={}).status_code == 422
    other = f"/api/v1/residents/{world['young'].id}/calls/{made['id']}/confirm"
    assert client.post(other, headers=doctor, json={"confirm": True}).status_code == 404


# Statistics

def test_the_county_fulfilment_rate_equals_a_hand_count(client, world):
    """On 2026-09-01: the elder is on track, the young adult behind (health education owed
    once by now, none given), the elder of 青山村 complete: 2 of 3 residents, 2/3."""
    county, doctor, elder = world["county"], world["doctor"], world["elder"]
    far = add_resident("鲁大成", id_number_for(date(1960, 1, 1), 281), "13900003333", VILLAGE_B1)
    doctor_b = county.headers(client, "doctor_b")
    sign(client, doctor, county, world["young"])
    created = client.post("/api/v1/contracts", headers=doctor_b, json={
        "resident_id": far.id, "team_id": county.teams["b"].id, "package_codes": ["basic"]})
    client.post(f"/api/v1/contracts/{created.get_json()['id']}/approve", headers=doctor_b,
                json={"start_date": "2026-03-02"})
    assert visit(client, doctor, elder, "2026-03-02").status_code == 201
    at("2026-06-01T09:00:00+08:00")
    assert visit(client, doctor, elder, "2026-06-01").status_code == 201
    for who, resident, code in ((doctor, elder, "health_check_65"), (doctor, elder, "health_education"),
                                (doctor_b, far, "health_check_65"), (doctor_b, far, "tcm_guidance"),
                                (doctor_b, far, "health_education"), (doctor_b, far, "health_education")):
        assert deliver(client, who, resident, code, "2026-05-20").status_code == 201
    at("2026-09-01T10:00:00+08:00")
    assert call(client, doctor, elder, "no_answer").status_code == 201
    assert call(client, doctor, elder, "reached_will_visit").status_code == 201
    assert call(client, doctor_b, far, "wrong_number").status_code == 201

    admin = county.headers(client, "county_admin")
    stats = client.get("/api/v1/stats/fulfilment", headers=admin).get_json()
    assert (stats["contracted"], stats["on_track"], stats["complete"], stats["behind"]) == (3, 1, 1, 1)
    assert stats["fulfilment_rate"] == 0.6667
    children = {c["region"]["name"]: (c["contracted"], c["fulfilment_rate"]) for c in stats["children"]}
    assert children["平安镇"] == (2, 0.5) and children["青山镇"] == (1, 1.0)
    assert {t["team"]["name"]: t["fulfilment_rate"] for t in stats["teams"]} == \
        {"平安镇家医一队": 0.5, "青山镇家医一队": 1.0}
    items = {i["code"]: i for i in stats["items"]}
    # Health education: owed 2 each, 1 each by today (3); given 1 + 0 + 2, of which 1 + 0 + 1 count.
    he = items["health_education"]
    assert (he["contracts"], he["owed"], he["owed_by_today"], he["delivered"], he["delivered_of_owed_by_today"],
            he["delivery_rate"]) == (3, 6, 3, 3, 2, 0.6667)
    assert items["bp_follow_up"]["delivered"] == 2 and items["bp_follow_up"]["delivery_rate"] == 1.0

    before = client.get("/api/v1/stats/fulfilment?as_of=2026-03-01", headers=admin).get_json()
    assert (before["contracted"], before["fulfilment_rate"]) == (0, None)
    csv_text = client.get("/api/v1/stats/fulfilment", headers={**admin, "Accept": "text/csv"}).data.decode("utf-8-sig")
    assert "履约率" in csv_text.splitlines()[0] and "0.6667" in csv_text.splitlines()[1]
    assert any(line.startswith("服务项目,health_education,健康教育,3,6,3,3,2,0.6667") for line in csv_text.splitlines())

    calls = client.get("/api/v1/stats/calls", headers=admin).get_json()
    assert (calls["calls"], calls["outcomes"]["no_answer"], calls["outcomes"]["wrong_number"]) == (3, 1, 1)
    assert {t["team"]["name"]: t["calls"] for t in calls["teams"]} == {"平安镇家医一队": 2, "青山镇家医一队": 1}
    calls_csv = client.get("/api/v1/stats/calls", headers={**admin, "Accept": "text/csv"}).data.decode("utf-8-sig")
    assert calls_csv.splitlines()[-1].startswith("合计,2026-08-03,2026-09-01,3,1,0,1,1,0,0")

    township = client.get("/api/v1/stats/fulfilment", headers=county.headers(client, "inst_admin")).get_json()
    assert (township["region"]["name"], township["contracted"]) == ("平安镇", 2)


@pytest.mark.parametrize("query, field", [("as_of=2027-01-01", "as_of"), ("as_of=nope", "as_of")])
def test_bad_fulfilment_stats_queries_are_422(client, world, query, field):
    response = client.get(f"/api/v1/stats/fulfilment?{query}", headers=world["county"].headers(client, "county_admin"))
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.mark.parametrize("query, field", [("to=2026-03-03", "to"), ("from=2026-03-02&to=2026-03-01", "from"),
                                          ("from=2024-01-01&to=2026-03-01", "from")])
def test_bad_call_stats_queries_are_422(client, world, query, field):
    response = client.get(f"/api/v1/stats/calls?{query}", headers=world["county"].headers(client, "county_admin"))
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.mark.parametrize("path", ["/api/v1/stats/fulfilment", "/api/v1/stats/calls"])
def test_fulfilment_statistics_are_for_administrators_in_their_region(client, world, path):
    county = world["county"]
    assert client.get(path, headers=world["doctor"]).status_code == 403
    assert client.get(path, headers=world["family"]).status_code == 403
    assert client.get(path + "?region_code=220802200000", headers=county.headers(client, "inst_admin")).status_code == 403


def test_reminders_mention_what_the_contract_still_owes(client, world):
    import sqlalchemy as sa

    from scheduled.jobs import run_recorded

    def planned(reason: str) -> list[dict]:
        return [n.data for n in db.session.scalars(sa.select(Notification).where(Notification.reason == reason))]

    at("2026-03-13T07:30:00+08:00")  # three days before the first follow-up is due
    run_recorded("plan-follow-up-reminders", clock.now(), "test")
    assert [d["thing1"]["value"] for d in planned("follow_up")] == ["高血压随访（本签约期还需4次）"]

    assert deliver(client, world["doctor"], world["elder"], "health_check_65", "2026-03-13").status_code == 201
    at("2027-01-30T07:30:00+08:00")  # 30 days before the term ends on 2027-03-01
    run_recorded("plan-renewal-reminders", clock.now(), "test")
    # Still owed: 4 follow-ups, 2 health educations, the TCM guidance; the health check is done.
    assert [d["thing1"]["value"] for d in planned("renewal")] == ["家庭医生签约服务（尚有3项未完成）"]


def test_a_move_is_confirmed_by_a_second_person_of_the_contract_s_team(client, world):
    county, elder = world["county"], world["elder"]
    made = call(client, world["doctor"], elder, "moved_away").get_json()
    url = f"/api/v1/residents/{elder.id}/calls/{made['id']}/confirm"
    assert client.post(url, headers=world["doctor"], json={"confirm": True}).status_code == 403  # the caller
    # After a move into team b's village, team b sees the resident but does not hold the contract.
    assert client.patch(f"/api/v1/residents/{elder.id}", headers=county.headers(client, "county_admin"),
                        json={"region_code": VILLAGE_B1}).status_code == 200
    assert client.post(url, headers=county.headers(client, "doctor_b"), json={"confirm": True}).status_code == 403
    assert the_contract(client, world["doctor"], world)["status"] == "active"
    assert client.post(url, headers=county.headers(client, "village_doctor"), json={"confirm": True}).status_code == 200


def test_a_contract_not_started_yet_is_cancelled_not_terminated(client, world):
    county, young = world["county"], world["young"]
    later = sign(client, world["doctor"], county, young, start="2026-04-01")
    made = call(client, world["doctor"], young, "died").get_json()
    assert client.post(f"/api/v1/residents/{young.id}/calls/{made['id']}/confirm",
                       headers=county.headers(client, "nurse_a"), json={"confirm": True}).status_code == 200
    history = client.get(f"/api/v1/residents/{young.id}/contracts", headers=world["doctor"]).get_json()["items"]
    assert [(c["id"], c["status"], c["reason"]) for c in history] == [(later["id"], "cancelled", "居民死亡")]


def test_two_visits_on_one_day_count_as_one(client, world):
    elder, doctor = world["elder"], world["doctor"]
    assert visit(client, doctor, elder, "2026-03-02").status_code == 201
    assert visit(client, doctor, elder, "2026-03-02", method="home").status_code == 201
    assert by_code(fulfilment(client, doctor, world["contract"]["id"]))["bp_follow_up"][1] == 1


@pytest.mark.parametrize("items,field", [
    ([{"code": "aa", "name": "甲"}, {"code": "aa", "name": "乙"}], "items"),
    ([{"code": "aa", "name": "甲", "follow_up_disease": "hypertension"},
      {"code": "bb", "name": "乙", "follow_up_disease": "hypertension"}], "items"),
    ([{"code": "aa", "name": "甲", "follow_up_disease": "asthma"}], "items.0.follow_up_disease"),
    ([{"code": "a", "name": "甲"}], "items.0.code"),
])
def test_a_package_owes_each_item_once_and_counts_a_disease_s_visits_once(client, world, items, field):
    response = client.post("/api/v1/admin/service-packages", headers=world["county"].headers(client, "county_admin"),
                           json={"code": "extra", "name": "附加包", "kind": "personalized", "price_fen": 100,
                                 "funding": {"public_health_fen": 0, "insurance_fen": 0, "self_pay_fen": 100},
                                 "items": items})
    assert response.status_code == 422 and list(response.get_json()["errors"]) == [field]


def test_the_county_rate_computed_in_the_database_agrees_with_each_contract_s_own_fulfilment(app, client):
    """On the demo county: /stats/fulfilment (grouped SQL) against GET /contracts/{id}/fulfilment's
    computation (per contract, in Python) for every contract held today."""
    import sqlalchemy as sa

    from backend.contracts.models import Contract
    from backend.fulfilment.service import views_of
    from backend.stats.service import contracted_on
    from tests.factories import login

    assert app.test_cli_runner().invoke(args=["demo-data"]).exit_code == 0
    today = clock.today()
    held = list(db.session.scalars(sa.select(Contract).where(contracted_on(today))))
    statuses = [v["status"] for v in views_of(held, today, live=True).values()]
    stats = client.get("/api/v1/stats/fulfilment", headers=login(client, "county-admin", "jiayi-demo-2025")).get_json()
    assert stats["contracted"] == len(held) > 1000
    assert (stats["on_track"], stats["complete"], stats["behind"]) == \
        (statuses.count("on_track"), statuses.count("complete"), statuses.count("behind"))
    assert stats["behind"] > 0 and stats["on_track"] > 0


def _work_list_reference(team_id: str, kind: str, today: date, counted: set | None = None) -> list[tuple[str, int, int]]:
    """The team's work list computed per contract in Python (views_of, as a contract's own
    fulfilment is), filtered and sorted by the list's rules: the reference for the SQL."""
    from datetime import timedelta

    import sqlalchemy as sa

    from backend.contracts.models import Contract
    from backend.fulfilment.service import ENDING_DAYS, views_of

    statement = sa.select(Contract).where(Contract.team_id == team_id, Contract.status == "active",
                                          Contract.start_date <= today, Contract.end_date >= today)
    if kind == "ending":
        statement = statement.where(Contract.end_date <= today + timedelta(days=ENDING_DAYS))
    views = views_of(list(db.session.scalars(statement)), today, live=True).values()
    if counted is not None:  # the kinds of item that owed something by today and had deliveries counted
        counted.update(i["counted_from"] for v in views for i in v["items"] if i["owed_by_today"] and i["delivered"])
    if kind == "behind":
        rows = sorted((v for v in views if v["status"] == "behind"),
                      key=lambda v: (-v["behind_by"], v["end_date"], v["contract_id"]))
    else:
        rows = sorted((v for v in views if v["remaining"] > 0),
                      key=lambda v: (v["end_date"], -v["remaining"], v["contract_id"]))
    return [(v["contract_id"], v["behind_by"], v["remaining"]) for v in rows]


def _every_team_s_lists(client, kinds=("behind", "ending")):
    """(team, kind, the headers of the team's institution admin) for every demo team."""
    import sqlalchemy as sa

    from backend.directory.models import Team
    from tests.factories import login

    for team in db.session.scalars(sa.select(Team).order_by(Team.name)).all():
        admin = db.session.scalar(sa.text(
            "SELECT username FROM staff WHERE institution_id = :i AND username LIKE '%-admin'"),
            {"i": team.institution_id})
        headers = login(client, admin, "jiayi-demo-2025")
        for kind in kinds:
            yield team, kind, headers


def _listed(client, headers, team_id: str, kind: str) -> list[tuple[str, int, int]]:
    """The team's whole work list read page by page through the API, checking each page's total."""
    got, page, total = [], 1, None
    while True:
        response = client.get(f"/api/v1/teams/{team_id}/fulfilment?kind={kind}&page={page}&page_size=40",
                              headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert total in (None, body["total"])
        total = body["total"]
        got += [(i["contract_id"], i["behind_by"], i["remaining"]) for i in body["items"]]
        if not body["items"]:
            break
        page += 1
    assert total == len(got)
    return got


def test_every_demo_team_s_work_list_paged_in_sql_equals_each_contract_s_own_fulfilment(app, client):
    """On the demo county, every team's work list of both kinds, read page by page through the
    API by the team's institution admin, against the per-contract computation in Python (from
    the deliveries themselves), with how far each contract is behind as the nightly job stored
    it and as counted on a day it has not counted yet."""
    import sqlalchemy as sa

    from backend.contracts.models import Contract
    from backend.fulfilment.service import ENDING_DAYS, views_of

    assert app.test_cli_runner().invoke(args=["demo-data"]).exit_code == 0
    # Every contract signed carries its most owed item, by which the list skips those owing nothing yet.
    assert db.session.scalar(sa.text(
        "SELECT count(*) FROM contracts c WHERE c.most_owed IS DISTINCT FROM (SELECT max(owed) FROM contract_items i "
        "WHERE i.contract_id = c.id)")) == 0
    assert db.session.scalar(sa.text("SELECT count(*) FROM contracts WHERE most_owed > 0")) > 100
    today = clock.today()
    # What each item delivered and how far each contract is behind, as stored, equal the counts
    # made from the deliveries themselves (the demo writes through the models).
    held = list(db.session.scalars(sa.select(Contract).where(
        Contract.status == "active", Contract.start_date <= today, Contract.end_date >= today)))
    live = views_of(held, today, live=True)
    assert {c.id: {i.code: i.delivered for i in c.items} for c in held} == \
        {c.id: {i["code"]: i["delivered"] for i in live[c.id]["items"]} for c in held}
    assert {c.id: (c.behind_on, c.behind_by) for c in held} == {c.id: (today, live[c.id]["behind_by"]) for c in held}
    seen = {"behind": 0, "ending": 0}
    counted: set[str] = set()
    for team, kind, headers in _every_team_s_lists(client):
        expected = _work_list_reference(team.id, kind, today, counted)
        assert _listed(client, headers, team.id, kind) == expected, (team.name, kind)
        seen[kind] += len(expected)
    # The demo data has residents behind and contracts ending within the window with items owed.
    assert seen["behind"] > 100 and seen["ending"] > 0, (seen, ENDING_DAYS)
    # Items of every kind owed something and had deliveries: each way of counting was compared.
    assert counted == {"follow_ups", "health_checks", "services"}, counted
    # A day the nightly job has not counted yet: each contract is counted from its items.
    db.session.execute(sa.update(Contract).values(behind_on=None, behind_by=None))
    db.session.commit()
    for team, kind, headers in _every_team_s_lists(client, kinds=("behind",)):
        assert _listed(client, headers, team.id, kind) == _work_list_reference(team.id, kind, today), team.name


def test_the_health_record_s_fulfilment_equals_the_contract_s_own_on_the_demo_county(app, client):
    """The record counts its contract's deliveries in one grouped statement; the contract's own
    fulfilment counts them per kind in Python. They agree for residents of every kind of item."""
    import sqlalchemy as sa

    from backend.contracts.models import Contract, ContractItem
    from tests.factories import login

    assert app.test_cli_runner().invoke(args=["demo-data"]).exit_code == 0
    today = clock.today()
    headers = login(client, "county-admin", "jiayi-demo-2025")
    contracts = db.session.execute(
        sa.select(Contract.id, Contract.resident_id).where(
            Contract.status == "active", Contract.start_date <= today, Contract.end_date >= today,
            Contract.id.in_(sa.select(ContractItem.contract_id).where(sa.or_(
                ContractItem.follow_up_disease.is_not(None), ContractItem.health_check.is_(True)))))
        .order_by(Contract.id).limit(60)).all()
    assert len(contracts) == 60
    delivered = 0
    for contract_id, resident_id in contracts:
        record = client.get(f"/api/v1/residents/{resident_id}/health-record", headers=headers).get_json()
        own = fulfilment(client, headers, contract_id)
        assert record["fulfilment"] == own
        delivered += sum(i["delivered"] for i in own["items"])
    assert delivered > 60


def test_the_call_history_is_read_by_the_resident_s_accounts_and_staff_in_scope_and_logged(client, world, wechat):
    elder, doctor = world["elder"], world["doctor"]
    for outcome in ("no_answer", "reached_will_visit"):
        assert call(client, doctor, elder, outcome).status_code == 201
    url = f"/api/v1/residents/{elder.id}/calls"
    listed = client.get(url, headers=world["family"]).get_json()
    assert listed["total"] == 2 and {c["outcome"] for c in listed["items"]} == {"no_answer", "reached_will_visit"}
    assert client.get(url, headers=account_login(client, wechat, "o-stranger")).status_code == 404
    assert client.get(url, headers=world["county"].headers(client, "doctor_other")).status_code == 404
    log = client.get(f"/api/v1/residents/{elder.id}/access-log", headers=world["family"]).get_json()
    assert "GET /api/v1/residents/{resident_id}/calls" in [e["action"] for e in log["items"]]
