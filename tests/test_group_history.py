"""Staff-set key-population tags keep the days they were in force, so that statistics for a
past day count that day's tags and everything else sees today's (domain-rules.md "Indicators")."""
from __future__ import annotations

from datetime import date

import pytest

from backend import clock
from backend.contracts.models import Contract
from backend.directory.models import Population
from backend.extensions import db, new_id
from tests.factories import COUNTY, VILLAGE_A1, add_resident, id_number_for

URL = "/api/v1/residents"
A, B, C = "2026-03-01", "2026-11-01", "2026-11-10"  # tagged, untagged, tagged again


def on(day: str):
    return clock.frozen_at(clock.parse_moment(f"{day}T10:00:00+08:00"))


@pytest.fixture
def doctor(client, county):
    return county.headers(client, "doctor_a")


@pytest.fixture
def mother(county):
    """A woman contracted for all of 2026, in a village that counts two pregnant women."""
    resident = add_resident("韩梅", id_number_for(date(1996, 3, 3), 282), "13900004444", VILLAGE_A1)
    db.session.add(Contract(id=new_id(), resident_id=resident.id, team_id=county.teams["a"].id, status="active",
                            start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), created_by_kind="staff",
                            created_by_id="x"))
    db.session.add(Population(region_code=VILLAGE_A1, year=2026, resident_population=10, groups={"pregnant": 2}))
    db.session.commit()
    return resident


def set_groups(client, headers, resident, day: str, groups: list[str]) -> dict:
    with on(day):
        response = client.patch(f"{URL}/{resident.id}", headers=headers, json={"groups": groups})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def detail(client, headers, resident_id: str) -> dict:
    response = client.get(f"{URL}/{resident_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pregnant_figures(client, county, as_of: str) -> dict:
    with on("2026-11-20"):
        response = client.get(f"/api/v1/stats/contracts?region_code={COUNTY}&as_of={as_of}",
                              headers=county.headers(client, "county_admin"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["groups"]["pregnant"]


@pytest.mark.parametrize("as_of, contracted, rate", [
    ("2026-02-28", 0, 0.0),   # before she was tagged
    (A, 1, 0.5),
    ("2026-10-31", 1, 0.5),   # the last day she was
    (B, 0, 0.0),
    ("2026-11-15", 0, 0.0),
])
def test_a_tag_counts_in_its_groups_figures_only_on_the_days_it_was_in_force(
        client, county, doctor, mother, as_of, contracted, rate):
    set_groups(client, doctor, mother, A, ["pregnant"])
    set_groups(client, doctor, mother, B, [])
    assert pregnant_figures(client, county, as_of) == {"population": 2, "contracted": contracted, "rate": rate}


def test_a_tag_set_when_registering_starts_that_day(client, county, doctor):
    with on(A):
        created = client.post(URL, headers=doctor, json={
            "name": "李娜", "id_number": id_number_for(date(1994, 5, 6), 292), "region_code": VILLAGE_A1,
            "groups": ["pregnant"]})
    assert created.status_code == 201, created.get_json()
    assert detail(client, doctor, created.get_json()["id"])["group_history"] == [
        {"group": "pregnant", "set_on": A, "removed_on": None}]


def test_the_detail_and_the_list_show_only_the_current_groups(client, doctor, mother):
    set_groups(client, doctor, mother, A, ["pregnant", "disabled"])
    patched = set_groups(client, doctor, mother, B, ["disabled"])
    assert patched["groups"] == ["disabled"]
    assert detail(client, doctor, mother.id)["groups"] == ["disabled"]
    listed = client.get(f"{URL}?group=pregnant", headers=doctor).get_json()
    assert listed["items"] == []


def test_the_detail_lists_every_period_of_the_staff_set_tags(client, doctor, mother):
    set_groups(client, doctor, mother, A, ["pregnant", "disabled"])
    set_groups(client, doctor, mother, B, ["disabled"])
    assert detail(client, doctor, mother.id)["group_history"] == [
        {"group": "disabled", "set_on": A, "removed_on": None},
        {"group": "pregnant", "set_on": A, "removed_on": B}]


def test_a_tag_kept_keeps_the_day_it_was_set(client, doctor, mother):
    set_groups(client, doctor, mother, A, ["disabled"])
    set_groups(client, doctor, mother, B, ["disabled", "pregnant"])
    assert detail(client, doctor, mother.id)["group_history"] == [
        {"group": "disabled", "set_on": A, "removed_on": None},
        {"group": "pregnant", "set_on": B, "removed_on": None}]


def test_tagging_again_opens_a_new_period(client, county, doctor, mother):
    set_groups(client, doctor, mother, A, ["pregnant"])
    set_groups(client, doctor, mother, B, [])
    set_groups(client, doctor, mother, C, ["pregnant"])
    assert detail(client, doctor, mother.id)["group_history"] == [
        {"group": "pregnant", "set_on": A, "removed_on": B},
        {"group": "pregnant", "set_on": C, "removed_on": None}]
    assert pregnant_figures(client, county, "2026-11-05")["contracted"] == 0
    assert pregnant_figures(client, county, C)["contracted"] == 1


def test_a_tag_set_and_removed_on_the_same_day_leaves_no_period(client, county, doctor, mother):
    set_groups(client, doctor, mother, A, ["pregnant"])
    set_groups(client, doctor, mother, A, [])
    assert detail(client, doctor, mother.id)["group_history"] == []
    assert pregnant_figures(client, county, A)["contracted"] == 0


def test_a_tag_removed_and_set_again_on_one_day_stays_in_force(client, county, doctor, mother):
    set_groups(client, doctor, mother, A, ["pregnant"])
    set_groups(client, doctor, mother, B, [])
    set_groups(client, doctor, mother, B, ["pregnant"])
    assert detail(client, doctor, mother.id)["groups"] == ["pregnant"]
    assert pregnant_figures(client, county, B)["contracted"] == 1


def raised_pressure_visit(client, doctor, resident, day: str) -> dict:
    with on(day):
        response = client.post(f"{URL}/{resident.id}/follow-ups", headers=doctor, json={
            "disease": "hypertension", "visited_on": day, "method": "clinic", "sbp": 145, "dbp": 88})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_follow_up_counts_a_current_pregnant_tag(client, doctor, mother):
    with on(A):
        client.post(f"{URL}/{mother.id}/conditions", headers=doctor,
                    json={"disease": "hypertension", "diagnosed_on": "2025-05-01"})
    set_groups(client, doctor, mother, A, ["pregnant"])
    assert raised_pressure_visit(client, doctor, mother, "2026-03-02")["referral_reasons"] == [
        "pregnant_bp_gt_140_90"]


def test_a_follow_up_after_the_pregnant_tag_was_removed_does_not_count_it(client, doctor, mother):
    with on(A):
        client.post(f"{URL}/{mother.id}/conditions", headers=doctor,
                    json={"disease": "hypertension", "diagnosed_on": "2025-05-01"})
    set_groups(client, doctor, mother, A, ["pregnant"])
    set_groups(client, doctor, mother, B, [])
    assert raised_pressure_visit(client, doctor, mother, C)["urgent_referral"] is False
