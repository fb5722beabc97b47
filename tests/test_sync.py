"""The team sync (GET /api/v1/sync/teams/{id}) through the HTTP API: what a first sync holds,
paging, what each write brings to the next incremental sync, each removal, the rewind window,
the access log, who may sync, and the refusals."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.fulfilment.models import ServiceDelivery
from backend.security.models import AccessLog
from tests.factories import (
    OTHER_VILLAGE, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, account_login, add_resident, id_number_for,
)

ITEMS = [
    {"code": "health_education", "name": "健康教育", "per_year": 2, "eligible_groups": []},
    {"code": "bp_follow_up", "name": "高血压随访", "per_year": 4, "eligible_groups": ["hypertension"],
     "follow_up_disease": "hypertension"},
]
ELDER_ID_NUMBER = id_number_for(date(1956, 1, 20), 262)
ELDER_PHONE = "13900001111"


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


def later(**delta) -> None:
    clock.freeze(clock.now() + timedelta(**delta))


@pytest.fixture
def world(client, county):
    """Team a (平安镇: 平安村, 永安村) holds an elderly hypertensive resident with a contract, a
    follow-up, a service and a call, and a young neighbour; team b's and another county's
    residents have records of their own."""
    at("2026-03-02T09:00:00+08:00")
    county.packages["basic"].items = ITEMS
    db.session.commit()
    elder = add_resident("高玉兰", ELDER_ID_NUMBER, ELDER_PHONE, VILLAGE_A1)
    young = add_resident("高小军", id_number_for(date(1990, 6, 1), 271), "13900002222", VILLAGE_A2)
    stranger = add_resident("孙青山", id_number_for(date(1960, 2, 2), 281), "13900003333", VILLAGE_B1)
    far = add_resident("周东风", id_number_for(date(1961, 3, 3), 291), "13900004444", OTHER_VILLAGE)
    doctor = county.headers(client, "doctor_a")
    doctor_b = county.headers(client, "doctor_b")
    w = {"county": county, "elder": elder, "young": young, "stranger": stranger, "far": far,
         "doctor": doctor, "doctor_b": doctor_b, "team": county.teams["a"].id, "team_b": county.teams["b"].id}
    w["condition"] = ok(client.post(f"/api/v1/residents/{elder.id}/conditions", headers=doctor,
                                    json={"disease": "hypertension", "diagnosed_on": "2020-05-01"}))
    w["contract"] = sign(client, doctor, w["team"], elder)
    w["follow_up"] = ok(visit(client, doctor, elder, "2026-03-02"))
    w["service"] = ok(deliver(client, doctor, elder, "2026-03-02"))
    w["call"] = ok(call(client, doctor, elder, "reached_will_visit"))
    # Records of the other teams' residents, which team a must never receive.
    ok(client.post(f"/api/v1/residents/{stranger.id}/conditions", headers=doctor_b,
                   json={"disease": "hypertension", "diagnosed_on": "2019-01-01"}))
    ok(call(client, doctor_b, stranger, "no_answer"))
    ok(call(client, county.headers(client, "doctor_other"), far, "no_answer"))
    later(minutes=10)
    return w


def ok(response):
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def sign(client, doctor, team_id, resident, start="2026-03-02"):
    created = ok(client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": resident.id, "team_id": team_id, "package_codes": ["basic"]}))
    return ok(client.post(f"/api/v1/contracts/{created['id']}/approve", headers=doctor, json={"start_date": start}))


def visit(client, headers, resident, day):
    return client.post(f"/api/v1/residents/{resident.id}/follow-ups", headers=headers, json={
        "id": str(uuid.uuid4()), "disease": "hypertension", "visited_on": day, "method": "clinic",
        "sbp": 132, "dbp": 82})


def deliver(client, headers, resident, day):
    return client.post(f"/api/v1/residents/{resident.id}/services", headers=headers, json={
        "id": str(uuid.uuid4()), "item_code": "health_education", "delivered_on": day, "method": "clinic"})


def call(client, headers, resident, outcome):
    return client.post(f"/api/v1/residents/{resident.id}/calls", headers=headers, json={"outcome": outcome})


def sync(client, headers, team_id, cursor=None, limit=None):
    query = {k: v for k, v in (("cursor", cursor), ("limit", limit)) if v is not None}
    return client.get(f"/api/v1/sync/teams/{team_id}", headers=headers, query_string=query)


def sync_all(client, headers, team_id, cursor=None, limit=None):
    """Every page of one run: (changes, removals, the cursor for the next run, pages)."""
    changes, removals, pages = [], [], 0
    while True:
        page = ok(sync(client, headers, team_id, cursor, limit))
        pages += 1
        changes += page["changes"]
        removals += page["removals"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, removals, cursor, pages
        assert pages < 1000


def keys(changes) -> set[tuple[str, str]]:
    return {(c["kind"], c["id"]) for c in changes}


def removed(removals) -> set[tuple[str, str, str]]:
    return {(r["kind"], r["id"], r["reason"]) for r in removals}


# The first sync

def test_a_first_sync_returns_everything_in_the_team_s_scope_and_nothing_outside(client, world):
    changes, removals, cursor, pages = sync_all(client, world["doctor"], world["team"])
    elder, young = world["elder"], world["young"]
    assert keys(changes) == {
        ("resident", elder.id), ("resident", young.id), ("condition", world["condition"]["id"]),
        ("contract", world["contract"]["id"]), ("follow_up", world["follow_up"]["id"]),
        ("service", world["service"]["id"]), ("call", world["call"]["id"])}
    assert removals == [] and pages == 1
    owners = {c["data"].get("resident_id", c["id"]) for c in changes}
    assert owners == {elder.id, young.id}


def test_each_kind_has_the_shape_of_its_get_endpoint(client, world):
    changes, _, _, _ = sync_all(client, world["doctor"], world["team"])
    data = {(c["kind"], c["id"]): c["data"] for c in changes}
    elder, doctor = world["elder"], world["doctor"]
    assert data[("resident", elder.id)] == ok(client.get(f"/api/v1/residents/{elder.id}", headers=doctor))
    assert data[("condition", world["condition"]["id"])] == \
        ok(client.get(f"/api/v1/residents/{elder.id}/conditions", headers=doctor))[0]
    for kind, path in (("follow_up", "follow-ups"), ("service", "services"), ("call", "calls")):
        item = ok(client.get(f"/api/v1/residents/{elder.id}/{path}", headers=doctor))["items"][0]
        assert data[(kind, item["id"])] == item
    assert data[("contract", world["contract"]["id"])] == \
        ok(client.get(f"/api/v1/residents/{elder.id}/contracts", headers=doctor))["items"][0]
    assert all(c["updated_at"].endswith("+08:00") for c in changes)


def test_identity_numbers_and_phones_leave_masked_only(client, world):
    response = sync(client, world["doctor"], world["team"])
    text = response.get_data(as_text=True)
    assert ELDER_ID_NUMBER not in text and ELDER_PHONE not in text
    resident = next(c["data"] for c in response.get_json()["changes"] if c["id"] == world["elder"].id)
    assert resident["id_number"] == ELDER_ID_NUMBER[:6] + "*" * 8 + ELDER_ID_NUMBER[-4:]
    assert resident["phone"] == "139****1111"


def test_paging_with_a_small_limit_yields_every_row_once_in_a_stable_order(client, world):
    whole, _, _, _ = sync_all(client, world["doctor"], world["team"], limit=1000)
    paged, _, _, pages = sync_all(client, world["doctor"], world["team"], limit=2)
    assert pages == 4  # seven changes, two a page (the last page says there is no more)
    assert [(c["kind"], c["id"]) for c in paged] == [(c["kind"], c["id"]) for c in whole]
    assert len(keys(paged)) == len(paged) == 7
    kinds = [c["kind"] for c in paged]
    assert kinds == sorted(kinds, key=["resident", "condition", "follow_up", "contract", "service", "call"].index)


def test_a_row_written_during_a_run_comes_with_the_next_run(client, world):
    whole, _, _, _ = sync_all(client, world["doctor"], world["team"])
    first = ok(sync(client, world["doctor"], world["team"], limit=1))
    later(minutes=1)
    ok(client.patch(f"/api/v1/residents/{world['young'].id}", headers=world["doctor"], json={"address": "新址"}))
    rest, _, cursor, _ = sync_all(client, world["doctor"], world["team"], first["cursor"], limit=1)
    later(minutes=5)
    following, _, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert keys(first["changes"] + rest) | keys(following) == keys(whole)
    young = next(c for c in following if c["id"] == world["young"].id)
    assert young["data"]["address"] == "新址"


# Incremental syncs

def _after_full_sync(client, world) -> str:
    _, _, cursor, _ = sync_all(client, world["doctor"], world["team"])
    later(minutes=10)
    return cursor


def _edit_resident(client, w):
    ok(client.patch(f"/api/v1/residents/{w['young'].id}", headers=w["doctor"], json={"address": "平安村三组"}))
    return {("resident", w["young"].id)}


def _new_condition(client, w):
    made = ok(client.post(f"/api/v1/residents/{w['young'].id}/conditions", headers=w["doctor"],
                          json={"disease": "diabetes", "diagnosed_on": "2025-01-01"}))
    return {("condition", made["id"])}


def _follow_up(client, w):
    return {("follow_up", ok(visit(client, w["doctor"], w["elder"], clock.today().isoformat()))["id"])}


def _sign_up(client, w):
    made = ok(client.post("/api/v1/contracts", headers=w["doctor"], json={
        "resident_id": w["young"].id, "team_id": w["team"], "package_codes": ["basic"]}))
    return {("contract", made["id"])}


def _approval(client, w):
    (_, contract_id), = _sign_up(client, w)
    later(minutes=10)
    ok(client.post(f"/api/v1/contracts/{contract_id}/approve", headers=w["doctor"], json={}))
    return {("contract", contract_id)}


def _service(client, w):
    return {("service", ok(deliver(client, w["doctor"], w["elder"], clock.today().isoformat()))["id"])}


def _call(client, w):
    return {("call", ok(call(client, w["doctor"], w["young"], "no_answer"))["id"])}


@pytest.mark.parametrize("write", [_edit_resident, _new_condition, _follow_up, _sign_up, _approval, _service,
                                   _call])
def test_an_incremental_sync_brings_each_kind_of_write_and_not_the_rest(client, world, write):
    cursor = _after_full_sync(client, world)
    written = write(client, world)
    later(minutes=1)
    changes, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert written <= keys(changes)
    assert ("follow_up", world["follow_up"]["id"]) not in keys(changes)
    assert removals == []


def test_an_incremental_sync_with_nothing_written_is_empty(client, world):
    cursor = _after_full_sync(client, world)
    changes, removals, following, pages = sync_all(client, world["doctor"], world["team"], cursor)
    assert (changes, removals, pages) == ([], [], 1)
    assert following != cursor


def test_a_row_committed_late_with_an_earlier_updated_at_is_not_missed(client, world):
    _, _, cursor, _ = sync_all(client, world["doctor"], world["team"])
    ended_at = clock.utcnow()
    # Stamped 30 s before the run ended, committed after it read: the next run looks back 60 s.
    late = ServiceDelivery(id=str(uuid.uuid4()), resident_id=world["elder"].id, item_code="health_education",
                           delivered_on=clock.today(), method="home", recorded_by_id=world["county"].staff["doctor_a"].id,
                           body_hash="late", created_at=ended_at - timedelta(seconds=30),
                           updated_at=ended_at - timedelta(seconds=30))
    db.session.add(late)
    db.session.commit()
    later(minutes=10)
    changes, _, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert ("service", late.id) in keys(changes)


def test_a_resident_moving_in_arrives_with_its_older_records(client, world):
    _, _, cursor_b, _ = sync_all(client, world["doctor_b"], world["team_b"])
    later(minutes=10)
    young = world["young"]
    call_id = ok(call(client, world["doctor"], young, "no_answer"))["id"]
    later(minutes=10)
    ok(client.patch(f"/api/v1/residents/{young.id}", headers=world["county"].headers(client, "county_admin"),
                    json={"region_code": VILLAGE_B1}))
    later(minutes=1)
    changes, _, _, _ = sync_all(client, world["doctor_b"], world["team_b"], cursor_b)
    assert {("resident", young.id), ("call", call_id)} <= keys(changes)


# Removals

def test_a_resident_who_moves_out_of_the_area_is_removed(client, world):
    cursor = _after_full_sync(client, world)
    ok(client.patch(f"/api/v1/residents/{world['young'].id}", headers=world["county"].headers(client, "county_admin"),
                    json={"region_code": VILLAGE_B1}))
    later(minutes=1)
    changes, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removed(removals) == {("resident", world["young"].id, "moved_out")}
    assert ("resident", world["young"].id) not in keys(changes)


def test_a_resident_who_moves_out_but_keeps_a_live_contract_stays(client, world):
    cursor = _after_full_sync(client, world)
    ok(client.patch(f"/api/v1/residents/{world['elder'].id}", headers=world["county"].headers(client, "county_admin"),
                    json={"region_code": VILLAGE_B1}))
    later(minutes=1)
    changes, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removals == []
    assert ("resident", world["elder"].id) in keys(changes)


def test_a_confirmed_move_away_removes_the_resident_and_its_contract(client, world):
    cursor = _after_full_sync(client, world)
    elder = world["elder"]
    made = ok(call(client, world["doctor"], elder, "moved_away"))
    ok(client.post(f"/api/v1/residents/{elder.id}/calls/{made['id']}/confirm",
                   headers=world["county"].headers(client, "nurse_a"), json={"confirm": True}))
    later(minutes=1)
    changes, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removed(removals) == {("resident", elder.id, "moved_away"),
                                 ("contract", world["contract"]["id"], "terminated")}
    assert not any(c["id"] == elder.id or c["data"].get("resident_id") == elder.id for c in changes)


def test_a_pending_move_away_removes_nothing(client, world):
    cursor = _after_full_sync(client, world)
    ok(call(client, world["doctor"], world["elder"], "died"))
    later(minutes=1)
    _, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removals == []


def test_a_terminated_contract_is_removed_and_its_resident_in_the_area_stays(client, world):
    cursor = _after_full_sync(client, world)
    ok(client.post(f"/api/v1/contracts/{world['contract']['id']}/terminate", headers=world["doctor"],
                   json={"reason": "居民要求解约"}))
    later(minutes=1)
    changes, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removed(removals) == {("contract", world["contract"]["id"], "terminated")}
    assert ("contract", world["contract"]["id"]) not in keys(changes)


def test_a_rejected_sign_up_is_removed(client, world):
    (_, contract_id), = _sign_up(client, world)
    cursor = _after_full_sync(client, world)
    ok(client.post(f"/api/v1/contracts/{contract_id}/reject", headers=world["doctor"], json={"reason": "资料不全"}))
    later(minutes=1)
    _, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removed(removals) == {("contract", contract_id, "rejected")}


def test_a_contract_expired_by_date_alone_is_removed(client, world):
    at("2027-03-01T20:00:00+08:00")  # the term's last day
    _, _, cursor, _ = sync_all(client, world["doctor"], world["team"])
    at("2027-03-02T08:00:00+08:00")  # nothing written: the nightly job has not run
    changes, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removed(removals) == {("contract", world["contract"]["id"], "expired")}
    assert changes == []


def test_a_resident_outside_the_area_leaves_with_its_expired_contract(client, world):
    ok(client.patch(f"/api/v1/residents/{world['elder'].id}", headers=world["county"].headers(client, "county_admin"),
                    json={"region_code": VILLAGE_B1}))
    at("2027-03-01T20:00:00+08:00")
    _, _, cursor, _ = sync_all(client, world["doctor"], world["team"])
    at("2027-03-03T08:00:00+08:00")
    _, removals, _, _ = sync_all(client, world["doctor"], world["team"], cursor)
    assert removed(removals) == {("contract", world["contract"]["id"], "expired"),
                                 ("resident", world["elder"].id, "contract_ended")}


def test_removals_page_like_changes(client, world):
    cursor = _after_full_sync(client, world)
    admin = world["county"].headers(client, "county_admin")
    ok(client.post(f"/api/v1/contracts/{world['contract']['id']}/terminate", headers=world["doctor"],
                   json={"reason": "居民要求解约"}))
    for person in (world["young"], world["elder"]):
        ok(client.patch(f"/api/v1/residents/{person.id}", headers=admin, json={"region_code": VILLAGE_B1}))
    later(minutes=1)
    _, removals, _, pages = sync_all(client, world["doctor"], world["team"], cursor, limit=1)
    assert len(removals) == 3 and pages == 4
    assert removed(removals) == {("contract", world["contract"]["id"], "terminated"),
                                 ("resident", world["young"].id, "moved_out"),
                                 ("resident", world["elder"].id, "moved_out")}


# The access log

def _logged() -> list[str]:
    return sorted(db.session.scalars(sa.select(AccessLog.resident_id).where(
        AccessLog.action == "GET /api/v1/sync/teams/{team_id}")))


def test_the_residents_delivered_are_in_the_access_log(client, world):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AccessLog))
    sync_all(client, world["doctor"], world["team"])
    assert _logged() == sorted([world["elder"].id, world["young"].id])
    entries = db.session.scalars(sa.select(AccessLog).where(AccessLog.resident_id == world["elder"].id,
                                                            AccessLog.action.like("%sync%"))).all()
    assert [(e.actor_kind, e.actor_name) for e in entries] == [("staff", "王医生")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessLog)) == before + 2


def test_an_empty_page_logs_nothing(client, world):
    cursor = _after_full_sync(client, world)
    db.session.execute(sa.delete(AccessLog))
    db.session.commit()
    sync_all(client, world["doctor"], world["team"], cursor)
    assert _logged() == []


# Who may sync, and refusals

@pytest.mark.parametrize("who", ["doctor_b", "inst_admin", "county_admin", "root"])
def test_staff_outside_the_team_are_403(client, world, who):
    response = sync(client, world["county"].headers(client, who), world["team"])
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden" and "message" in response.get_json()


def test_every_member_of_the_team_may_sync(client, world):
    for who in ("nurse_a", "village_doctor"):
        assert sync(client, world["county"].headers(client, who), world["team"]).status_code == 200


def test_a_resident_account_is_403(client, world, wechat):
    account = account_login(client, wechat, "o-gao")
    response = sync(client, account, world["team"])
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"


def test_no_token_is_401(client, world):
    assert client.get(f"/api/v1/sync/teams/{world['team']}").status_code == 401


def test_an_unknown_team_is_404(client, world):
    response = sync(client, world["doctor"], str(uuid.uuid4()))
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def _cursor(body: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


GOOD = {"v": 1, "since": None, "upto": "2026-03-02T01:00:00+00:00", "phase": 0, "after": ""}


@pytest.mark.parametrize("cursor", [
    "not a cursor", "!!!", base64.urlsafe_b64encode(b"\xff\xfe").decode(), [1, 2], {**GOOD, "v": 2},
    {**GOOD, "phase": 99}, {**GOOD, "phase": "0"}, {**GOOD, "upto": "yesterday"},
    {**GOOD, "upto": "2026-03-02T01:00:00"}, {**GOOD, "since": "2026-03-03T01:00:00+00:00"},
    {k: v for k, v in GOOD.items() if k != "after"},
])
def test_a_malformed_cursor_is_422_naming_cursor_and_logs_nothing(client, world, cursor):
    if not isinstance(cursor, str):
        cursor = _cursor({**cursor, "team": world["team"]} if isinstance(cursor, dict) else cursor)
    response = sync(client, world["doctor"], world["team"], cursor)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == "validation_error" and "cursor" in response.get_json()["errors"]
    assert _logged() == []


def test_another_team_s_cursor_is_422(client, world):
    page = ok(sync(client, world["doctor_b"], world["team_b"]))
    response = sync(client, world["doctor"], world["team"], page["cursor"])
    assert response.status_code == 422 and "cursor" in response.get_json()["errors"]


@pytest.mark.parametrize("limit", ["0", "1001", "-5", "many", "2.5"])
def test_a_limit_outside_1_to_1000_is_422_naming_limit(client, world, limit):
    response = sync(client, world["doctor"], world["team"], limit=limit)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error" and "limit" in response.get_json()["errors"]
    assert _logged() == []


def test_the_page_reports_the_server_time_and_the_team(client, world):
    page = ok(sync(client, world["doctor"], world["team"]))
    assert page["team_id"] == world["team"]
    assert page["server_time"] == clock.now().isoformat()
    assert page["has_more"] is False


def test_each_kind_is_dumped_exactly_as_its_schema_dumps_it(client, world):
    from backend.contracts.models import Contract
    from backend.followups.models import Condition, FollowUp
    from backend.fulfilment.models import Call
    from backend.sync import service

    ok(client.post(f"/api/v1/contracts/{world['contract']['id']}/terminate", headers=world["doctor"],
                   json={"reason": "居民要求解约"}))
    ok(client.patch(f"/api/v1/residents/{world['elder'].id}", headers=world["doctor"],
                    json={"groups": ["disabled"], "address": None}))
    db.session.expire_all()
    for model, schema, views in (
            (FollowUp, service.FollowUpSchema, service.follow_up_views),
            (Contract, service.ContractSchema, service.contract_views),
            (Call, service.CallSchema, lambda rows: [service.call_view(c) for c in rows]),
            (Condition, service.ConditionSchema, list),
            (ServiceDelivery, service.DeliverySchema, list)):
        rows = views(list(db.session.scalars(sa.select(model))))
        assert service.dumper(schema)(rows) == schema(many=True).dump(rows)
    residents = list(db.session.scalars(sa.select(service.Resident)))
    views = service.resident_views(residents)
    for view in views:
        view["group_history"] = []
    assert service.dumper(service.ResidentDetailSchema)(views) == service.ResidentDetailSchema(many=True).dump(views)


def test_a_client_that_takes_gzip_gets_the_same_page_gzipped(client, world):
    import gzip

    plain = sync(client, world["doctor"], world["team"])
    zipped = client.get(f"/api/v1/sync/teams/{world['team']}", headers={**world["doctor"], "Accept-Encoding": "gzip"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    body = json.loads(gzip.decompress(zipped.get_data()))
    assert len(zipped.get_data()) < len(plain.get_data()) / 2
    assert keys(body["changes"]) == keys(plain.get_json()["changes"])
    assert "Content-Encoding" not in plain.headers


def test_a_confirmed_death_is_told_only_to_teams_tied_to_the_resident(client, world):
    from backend.fulfilment.models import Call

    cursor_a = _after_full_sync(client, world)
    _, _, cursor_b, _ = sync_all(client, world["doctor_b"], world["team_b"])
    later(minutes=10)
    staff = world["county"].staff
    for person, caller in ((world["stranger"], "doctor_b"), (world["far"], "doctor_other")):
        db.session.add(Call(resident_id=person.id, outcome="died", called_at=clock.utcnow(),
                            called_by_id=staff[caller].id, confirmation="confirmed",
                            confirmed_by_id=staff["doctor_a"].id, confirmed_at=clock.utcnow()))
    db.session.commit()
    later(minutes=1)
    _, removals_a, _, _ = sync_all(client, world["doctor"], world["team"], cursor_a)
    _, removals_b, _, _ = sync_all(client, world["doctor_b"], world["team_b"], cursor_b)
    assert removals_a == []
    assert removed(removals_b) == {("resident", world["stranger"].id, "died")}
