"""Every role against every resident-bearing endpoint: who sees whom, and what the others get.

A resident out of scope answers 404 (never 403, so ids cannot be probed) and its data never appears.
"""
from __future__ import annotations

from datetime import date

import pytest

from tests.factories import OTHER_VILLAGE, VILLAGE_A1, VILLAGE_B1, account_login, add_resident, id_number_for

RESIDENTS = ("a1", "b1", "other")
CALLERS = ("anonymous", "account_bound", "account_stranger", "doctor_a", "village_doctor", "doctor_b",
           "inst_admin", "inst_admin_b", "county_admin", "other_county_admin", "root")

# Which residents each caller may see.
VISIBLE = {
    "anonymous": set(),
    "account_bound": {"a1"},
    "account_stranger": set(),
    "doctor_a": {"a1"},
    "village_doctor": {"a1"},
    "doctor_b": {"b1"},
    "inst_admin": {"a1"},
    "inst_admin_b": {"b1"},
    "county_admin": {"a1", "b1"},
    "other_county_admin": {"other"},
    "root": {"a1", "b1", "other"},
}


@pytest.fixture
def world(client, wechat, county):
    residents = {
        "a1": add_resident("甲村民", id_number_for(date(1960, 1, 1), 101), "13900000101", VILLAGE_A1),
        "b1": add_resident("乙村民", id_number_for(date(1961, 1, 1), 102), "13900000102", VILLAGE_B1),
        "other": add_resident("丙村民", id_number_for(date(1962, 1, 1), 103), "13900000103", OTHER_VILLAGE),
    }
    headers = {"anonymous": {}}
    headers["account_bound"] = account_login(client, wechat, "o-family")
    bound = client.post("/api/v1/me/residents", headers=headers["account_bound"], json={
        "name": "甲村民", "id_number": residents["a1"].id_number, "phone": "13900000101", "relation": "parent"})
    assert bound.status_code == 201
    headers["account_stranger"] = account_login(client, wechat, "o-stranger")
    for who in CALLERS:
        if who not in headers:
            headers[who] = county.headers(client, who)
    return residents, headers


CELLS = [(caller, resident) for caller in CALLERS for resident in RESIDENTS]


def expected(caller: str, resident: str, staff_only: bool = False) -> int:
    if caller == "anonymous":
        return 401
    if staff_only and caller.startswith("account"):
        return 403
    return 200 if resident in VISIBLE[caller] else 404


def check(response, status: int, resident):
    assert response.status_code == status, (response.status_code, response.get_json())
    if status != 200:
        assert resident.name not in response.get_data(as_text=True)


@pytest.mark.parametrize("caller, resident", CELLS)
def test_read_resident_detail(client, world, caller, resident):
    residents, headers = world
    response = client.get(f"/api/v1/residents/{residents[resident].id}", headers=headers[caller])
    check(response, expected(caller, resident), residents[resident])


@pytest.mark.parametrize("caller, resident", CELLS)
def test_patch_resident(client, world, caller, resident):
    residents, headers = world
    response = client.patch(f"/api/v1/residents/{residents[resident].id}", json={"address": "新地址"},
                            headers=headers[caller])
    check(response, expected(caller, resident, staff_only=True), residents[resident])


@pytest.mark.parametrize("caller, resident", CELLS)
def test_read_access_log(client, world, caller, resident):
    residents, headers = world
    response = client.get(f"/api/v1/residents/{residents[resident].id}/access-log", headers=headers[caller])
    check(response, expected(caller, resident), residents[resident])


@pytest.mark.parametrize("caller", CALLERS)
def test_resident_list_holds_exactly_what_is_visible(client, world, caller):
    residents, headers = world
    response = client.get("/api/v1/residents", headers=headers[caller])
    if caller == "anonymous":
        assert response.status_code == 401
        return
    if caller.startswith("account"):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    listed = {item["id"] for item in response.get_json()["items"]}
    assert listed == {residents[r].id for r in VISIBLE[caller]}


@pytest.mark.parametrize("caller", ["doctor_a", "county_admin", "root"])
def test_unknown_id_looks_like_out_of_scope(client, world, caller):
    _, headers = world
    response = client.get("/api/v1/residents/00000000-0000-0000-0000-000000000000", headers=headers[caller])
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


# A referral is seen by the referring team and the receiving institution, not by where its
# resident lives: each resident here is referred by its own team to the county hospital, whose
# staff are none of these callers.
REFERRAL_VISIBLE = {**{caller: set() for caller in CALLERS},
                    "doctor_a": {"a1"}, "village_doctor": {"a1"}, "doctor_b": {"b1"}}
REFERRERS = {"a1": ("a", "doctor_a"), "b1": ("b", "doctor_b"), "other": ("other", "doctor_other")}


@pytest.fixture
def referred(world, county):
    from tests.test_referrals import refer

    residents, headers = world
    referrals = {key: refer(county, residents[key], team=team, doctor=doctor)
                 for key, (team, doctor) in REFERRERS.items()}
    return residents, headers, referrals


def referral_expected(caller: str, resident: str) -> int:
    if caller == "anonymous":
        return 401
    if caller.startswith("account"):
        return 403
    return 200 if resident in REFERRAL_VISIBLE[caller] else 404


@pytest.mark.parametrize("caller, resident", CELLS)
def test_read_referral(client, referred, caller, resident):
    residents, headers, referrals = referred
    response = client.get(f"/api/v1/referrals/{referrals[resident].id}", headers=headers[caller])
    check(response, referral_expected(caller, resident), residents[resident])


@pytest.mark.parametrize("caller", CALLERS)
def test_referral_list_holds_exactly_what_is_visible(client, referred, caller):
    residents, headers, referrals = referred
    response = client.get("/api/v1/referrals", headers=headers[caller])
    if caller == "anonymous":
        assert response.status_code == 401
        return
    if caller not in ("doctor_a", "village_doctor", "doctor_b"):  # the team list is the doctors'
        assert response.status_code == 403
        return
    assert response.status_code == 200
    listed = {item["id"] for item in response.get_json()["items"]}
    assert listed == {referrals[r].id for r in REFERRAL_VISIBLE[caller]}
