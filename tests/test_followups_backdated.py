"""A visit entered later than others that came after it (a back-dated entry): the visits after it
are classified again with their new previous visit, and the condition's schedule follows its
latest visit."""
from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import date

import pytest
import requests
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.followups import service
from backend.followups.models import Condition, FollowUp
from tests.conftest import DATABASE_URL
from tests.factories import VILLAGE_A1, add_resident, id_number_for, served

CONTROLLED = {"sbp": 128, "dbp": 78}
UNCONTROLLED = {"sbp": 160, "dbp": 95}  # above 140/90 at 50


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


@pytest.fixture
def doctor(client, county):
    return county.headers(client, "doctor_a")


@pytest.fixture
def patient(county):
    at("2026-02-01T09:00:00+08:00")
    return add_resident("高建国", id_number_for(date(1975, 6, 1), 271), "13900002222", VILLAGE_A1)


def register(client, doctor, resident, disease="hypertension"):
    response = client.post(f"/api/v1/residents/{resident.id}/conditions", headers=doctor, json={
        "disease": disease, "diagnosed_on": "2020-05-01", "registered_on": "2026-02-01"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def visit(client, doctor, resident, visited_on, entered_at, disease="hypertension", **body):
    """A visit entered at ``entered_at`` (each entry at its own moment, so that none ties)."""
    at(entered_at)
    payload = {"disease": disease, "visited_on": visited_on, "method": "clinic", **body}
    return client.post(f"/api/v1/residents/{resident.id}/follow-ups", headers=doctor, json=payload)


def visits_by_day(client, doctor, resident) -> dict[str, dict]:
    response = client.get(f"/api/v1/residents/{resident.id}/follow-ups", headers=doctor)
    assert response.status_code == 200, response.get_json()
    return {item["visited_on"]: item for item in response.get_json()["items"]}


def outcome(item: dict) -> tuple:
    return item["classification"], item["refer"], item["urgent_referral"], item["referral_reasons"], \
        item["next_due_on"]


def stored_rows() -> list[tuple]:
    """Every column of every visit and condition, to compare before and after."""
    visits = db.session.execute(sa.select(FollowUp.__table__).order_by(FollowUp.id)).all()
    conditions = db.session.execute(sa.select(Condition.__table__).order_by(Condition.id)).all()
    db.session.rollback()
    return [tuple(row) for row in visits + conditions]


def written_at(day: str):
    return db.session.scalar(sa.select(FollowUp.updated_at).where(FollowUp.visited_on == date.fromisoformat(day)))


def schedule() -> tuple:
    db.session.expire_all()
    condition = db.session.scalar(sa.select(Condition))
    return condition.next_due_on, condition.urgent, condition.last_visited_on


@pytest.fixture
def controlled_then_uncontrolled(client, doctor, patient):
    """03-01 controlled, 03-29 uncontrolled for the first time: not referred, due in 14 days."""
    register(client, doctor, patient)
    assert visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **CONTROLLED).status_code == 201
    later = visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **UNCONTROLLED).get_json()
    assert outcome(later) == ("uncontrolled", False, False, [], "2026-04-12")
    return later


def test_a_back_dated_uncontrolled_visit_makes_the_next_uncontrolled_one_a_referral(
        client, doctor, patient, controlled_then_uncontrolled):
    first_written = written_at("2026-03-01")
    entered = visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", **UNCONTROLLED)
    assert entered.status_code == 201, entered.get_json()
    assert outcome(entered.get_json()) == ("uncontrolled", False, False, [], "2026-03-29")  # after a controlled one

    listed = visits_by_day(client, doctor, patient)
    assert outcome(listed["2026-03-29"]) == ("uncontrolled", True, False, ["two_consecutive_uncontrolled"],
                                             "2026-04-12")
    assert outcome(listed["2026-03-01"]) == ("controlled", False, False, [], "2026-05-30")
    assert written_at("2026-03-01") == first_written  # a visit before the entry is not rewritten
    assert schedule() == (date(2026, 4, 12), False, date(2026, 3, 29))


def test_the_due_list_shows_the_latest_visit_referred_after_a_back_dated_entry(
        client, doctor, patient, controlled_then_uncontrolled):
    visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", **UNCONTROLLED)
    at("2026-04-13T09:00:00+08:00")
    response = client.get("/api/v1/follow-ups/due?scope=team&window=overdue", headers=doctor)
    (item,) = response.get_json()["items"]
    assert (item["due_on"], item["urgent"]) == ("2026-04-12", False)
    assert (item["last"]["visited_on"], item["last"]["classification"], item["last"]["refer"]) == (
        "2026-03-29", "uncontrolled", True)


def test_a_back_dated_controlled_visit_between_two_uncontrolled_ones_withdraws_the_referral(
        client, doctor, patient):
    register(client, doctor, patient)
    visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **UNCONTROLLED)
    referred = visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **UNCONTROLLED).get_json()
    assert referred["refer"] is True and referred["referral_reasons"] == ["two_consecutive_uncontrolled"]

    entered = visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", **CONTROLLED)
    assert entered.status_code == 201 and outcome(entered.get_json()) == ("controlled", False, False, [], "2026-06-13")
    listed = visits_by_day(client, doctor, patient)
    assert outcome(listed["2026-03-29"]) == ("uncontrolled", False, False, [], "2026-04-12")
    assert schedule() == (date(2026, 4, 12), False, date(2026, 3, 29))


def test_a_visit_dated_before_all_others_makes_it_the_previous_of_the_first(client, doctor, patient):
    register(client, doctor, patient)
    visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **UNCONTROLLED)
    visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **CONTROLLED)

    entered = visit(client, doctor, patient, "2026-02-15", "2026-04-02T10:00:00+08:00", **UNCONTROLLED)
    assert outcome(entered.get_json()) == ("uncontrolled", False, False, [], "2026-03-01")  # nothing before it
    listed = visits_by_day(client, doctor, patient)
    assert outcome(listed["2026-03-01"]) == ("uncontrolled", True, False, ["two_consecutive_uncontrolled"],
                                             "2026-03-15")
    assert outcome(listed["2026-03-29"]) == ("controlled", False, False, [], "2026-06-27")
    assert schedule() == (date(2026, 6, 27), False, date(2026, 3, 29))


def test_every_visit_after_a_back_dated_one_is_classified_with_its_own_previous(client, doctor, patient):
    register(client, doctor, patient)
    visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **CONTROLLED)
    visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **UNCONTROLLED)
    visit(client, doctor, patient, "2026-04-12", "2026-04-12T10:00:00+08:00", **UNCONTROLLED)  # refer
    visit(client, doctor, patient, "2026-04-26", "2026-04-26T10:00:00+08:00", **CONTROLLED)

    visit(client, doctor, patient, "2026-03-15", "2026-04-28T10:00:00+08:00", **UNCONTROLLED)
    listed = visits_by_day(client, doctor, patient)
    assert [(day, listed[day]["refer"]) for day in sorted(listed)] == [
        ("2026-03-01", False), ("2026-03-15", False), ("2026-03-29", True), ("2026-04-12", True),
        ("2026-04-26", False)]
    assert schedule() == (date(2026, 7, 25), False, date(2026, 4, 26))


def test_a_back_dated_visit_without_adverse_reaction_ends_a_run_of_two(client, doctor, patient):
    register(client, doctor, patient, disease="diabetes")
    adverse = {"disease": "diabetes", "fasting_glucose": 6.2, "adverse_reaction": True}
    visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **adverse)
    referred = visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **adverse).get_json()
    assert referred["referral_reasons"] == ["two_consecutive_adverse_reaction"]

    visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", disease="diabetes",
          fasting_glucose=6.0)
    later = visits_by_day(client, doctor, patient)["2026-03-29"]
    assert outcome(later) == ("adverse_reaction", False, False, [], "2026-04-12")


def test_a_resend_of_a_back_dated_visit_is_200_with_the_stored_record_and_changes_nothing(
        client, doctor, patient, controlled_then_uncontrolled):
    visit_id = str(uuid.uuid4())
    first = visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", id=visit_id, **UNCONTROLLED)
    assert first.status_code == 201
    stored = stored_rows()

    again = visit(client, doctor, patient, "2026-03-15", "2026-04-03T10:00:00+08:00", id=visit_id, **UNCONTROLLED)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert stored_rows() == stored
    assert visits_by_day(client, doctor, patient)["2026-03-29"]["refer"] is True


def test_a_rejected_back_dated_visit_changes_no_row(client, doctor, patient, controlled_then_uncontrolled):
    stored = stored_rows()
    response = visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", sbp=160, dbp=170)
    assert response.status_code == 422 and "dbp" in response.get_json()["errors"]
    assert stored_rows() == stored


@pytest.fixture
def interval_changed(app, client, doctor, patient):
    """03-01 uncontrolled, 03-29 controlled (due 90 days later); then the county sets the
    controlled interval to 60 days."""
    register(client, doctor, patient)
    visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **UNCONTROLLED)
    visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **CONTROLLED)
    assert schedule()[0] == date(2026, 6, 27)
    app.config["JIAYI"] = dataclasses.replace(app.config["JIAYI"], controlled_interval_days=60)


def test_a_later_visit_classified_again_moves_the_schedule_and_tells_the_listeners(
        client, doctor, patient, interval_changed, monkeypatch):
    told = []
    monkeypatch.setattr(service, "_schedule_listeners", [lambda *schedule_set: told.append(schedule_set)])
    entered = visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", **UNCONTROLLED)
    assert entered.status_code == 201, entered.get_json()
    assert visits_by_day(client, doctor, patient)["2026-03-29"]["next_due_on"] == "2026-05-28"
    condition = db.session.scalar(sa.select(Condition))
    assert schedule() == (date(2026, 5, 28), False, date(2026, 3, 29))
    assert told == [(condition.id, patient.id, "hypertension", date(2026, 5, 28))]


def test_a_back_dated_visit_that_leaves_the_schedule_in_place_tells_no_listener(
        client, doctor, patient, controlled_then_uncontrolled, monkeypatch):
    told = []
    monkeypatch.setattr(service, "_schedule_listeners", [lambda *schedule_set: told.append(schedule_set)])
    visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", **UNCONTROLLED)
    assert visits_by_day(client, doctor, patient)["2026-03-29"]["refer"] is True
    assert told == []
    visit(client, doctor, patient, "2026-04-10", "2026-04-10T10:00:00+08:00", **CONTROLLED)
    condition = db.session.scalar(sa.select(Condition))
    assert told == [(condition.id, patient.id, "hypertension", date(2026, 7, 9))]  # the latest visit, as before


def test_a_failure_after_later_visits_are_classified_again_changes_no_row(
        client, doctor, patient, interval_changed, monkeypatch):
    def failing(*_schedule_set):
        raise RuntimeError("listener failed")

    monkeypatch.setattr(service, "_schedule_listeners", [failing])
    stored = stored_rows()
    response = visit(client, doctor, patient, "2026-03-15", "2026-04-02T10:00:00+08:00", **UNCONTROLLED)
    assert response.status_code == 500
    assert stored_rows() == stored


def test_a_later_visit_keeps_the_pregnancy_it_was_classified_with(client, doctor, county):
    at("2026-02-01T09:00:00+08:00")
    mother = add_resident("韩梅", id_number_for(date(1996, 3, 3), 282), "13900004444", VILLAGE_A1,
                          groups=("pregnant",))
    register(client, doctor, mother)
    visit(client, doctor, mother, "2026-03-01", "2026-03-01T10:00:00+08:00", **CONTROLLED)
    urgent = visit(client, doctor, mother, "2026-03-29", "2026-03-29T10:00:00+08:00", sbp=145, dbp=85).get_json()
    assert urgent["referral_reasons"] == ["pregnant_bp_gt_140_90"]
    at("2026-04-01T10:00:00+08:00")
    assert client.patch(f"/api/v1/residents/{mother.id}", headers=doctor, json={"groups": []}).status_code == 200

    visit(client, doctor, mother, "2026-03-15", "2026-04-02T10:00:00+08:00", sbp=150, dbp=92)
    later = visits_by_day(client, doctor, mother)["2026-03-29"]
    assert outcome(later) == ("uncontrolled", True, True, ["pregnant_bp_gt_140_90", "two_consecutive_uncontrolled"],
                              "2026-04-12")
    assert schedule() == (date(2026, 4, 12), True, date(2026, 3, 29))


@pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                    reason="concurrency is specified on PostgreSQL (set TEST_DATABASE_URL)")
def test_late_entries_stored_at_once_each_classify_the_next_visit(app, client, doctor, patient):
    """Entries racing each other (late ones and a new latest one) end as if entered one by one:
    each visit referred exactly when it and the visit before it in time are both uncontrolled."""
    register(client, doctor, patient)
    visit(client, doctor, patient, "2026-03-01", "2026-03-01T10:00:00+08:00", **CONTROLLED)
    visit(client, doctor, patient, "2026-03-29", "2026-03-29T10:00:00+08:00", **UNCONTROLLED)
    at("2026-04-06T10:00:00+08:00")
    entries = {"2026-02-20": UNCONTROLLED, "2026-03-05": UNCONTROLLED, "2026-03-10": CONTROLLED,
               "2026-03-15": UNCONTROLLED, "2026-03-20": UNCONTROLLED, "2026-04-05": UNCONTROLLED}
    barrier = threading.Barrier(len(entries))
    statuses = {}

    def enter(url, day, readings):
        barrier.wait()
        statuses[day] = requests.post(url, headers=doctor, timeout=60, json={
            "disease": "hypertension", "visited_on": day, "method": "clinic", **readings}).status_code

    with served(app) as server:
        url = f"{server}/api/v1/residents/{patient.id}/follow-ups"
        threads = [threading.Thread(target=enter, args=(url, day, readings)) for day, readings in entries.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert set(statuses.values()) == {201}
    listed = visits_by_day(client, doctor, patient)
    assert [(day, listed[day]["refer"]) for day in sorted(listed)] == [
        ("2026-02-20", False), ("2026-03-01", False), ("2026-03-05", False), ("2026-03-10", False),
        ("2026-03-15", False), ("2026-03-20", True), ("2026-03-29", True), ("2026-04-05", True)]
    assert schedule() == (date(2026, 4, 19), False, date(2026, 4, 5))
