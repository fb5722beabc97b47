"""The staff side: registering residents, finding them, and the tags staff set by hand."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.residents.models import Resident
from tests.factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, add_resident, id_number_for

URL = "/api/v1/residents"
ID = id_number_for(date(1958, 3, 9), 472)  # even 17th digit: a woman


def new_resident(**overrides):
    return {"name": "刘桂兰", "id_number": ID, "phone": "13604361234", "region_code": VILLAGE_A1,
            "address": "平安村二组", "groups": ["poverty_relief"], **overrides}


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Resident))


def test_a_doctor_registers_a_resident_of_its_area(client, county):
    clock.freeze(clock.parse_moment("2026-11-23T10:00:00"))
    response = client.post(URL, json=new_resident(), headers=county.headers(client, "doctor_a"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["id_number"] == "220802********" + ID[-4:] and body["phone"] == "136****1234"
    assert body["sex"] == "female" and body["age"] == 68
    assert body["groups"] == ["elderly_65", "poverty_relief"]
    assert body["region_name"] == "平安村" and body["source"] == "staff"


def test_an_id_number_already_on_file_is_409(client, county):
    add_resident("刘桂兰", ID, None, VILLAGE_A1)
    response = client.post(URL, json=new_resident(), headers=county.headers(client, "doctor_a"))
    assert response.status_code == 409 and response.get_json()["code"] == "resident_exists"
    assert count() == 1


@pytest.mark.parametrize("overrides, field", [
    ({"id_number": "12345"}, "id_number"),
    ({"phone": "12345"}, "phone"),
    ({"region_code": "220802100099"}, "region_code"),
    ({"groups": ["elderly_65"]}, "groups"),
    ({"groups": ["hypertension"]}, "groups"),
    ({"groups": ["astronaut"]}, "groups"),
    ({"name": ""}, "name"),
])
def test_bad_residents_are_422_and_nothing_is_written(client, county, overrides, field):
    response = client.post(URL, json=new_resident(**overrides), headers=county.headers(client, "doctor_a"))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert count() == 0


def test_several_bad_fields_are_all_named(client, county):
    response = client.post(URL, json=new_resident(id_number="1", phone="2", region_code="220802100099"),
                           headers=county.headers(client, "doctor_a"))
    assert set(response.get_json()["errors"]) == {"id_number", "phone", "region_code"}


def test_registering_outside_ones_area_is_403(client, county):
    response = client.post(URL, json=new_resident(region_code=VILLAGE_B1), headers=county.headers(client, "doctor_a"))
    assert response.status_code == 403
    assert count() == 0


def test_an_account_cannot_register_residents_as_staff(client, wechat, county):
    from tests.factories import account_login

    response = client.post(URL, json=new_resident(), headers=account_login(client, wechat, "o-1"))
    assert response.status_code == 403


@pytest.fixture
def villagers(county):
    return {
        "old": add_resident("赵大爷", id_number_for(date(1940, 1, 1), 11), "13900000001", VILLAGE_A1),
        "young": add_resident("赵小明", id_number_for(date(2022, 6, 1), 12), None, VILLAGE_A1),
        "poor": add_resident("钱二", id_number_for(date(1980, 1, 1), 13), "13900000003", VILLAGE_A2,
                             groups=("poverty_relief",)),
        "elsewhere": add_resident("孙三", id_number_for(date(1975, 1, 1), 14), "13900000004", VILLAGE_B1),
    }


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["items"]]


def test_doctor_lists_only_residents_of_its_teams_area(client, county, villagers):
    assert names(client.get(URL, headers=county.headers(client, "doctor_a"))) == ["赵大爷", "赵小明", "钱二"]
    assert names(client.get(URL, headers=county.headers(client, "doctor_b"))) == ["孙三"]


def test_search_by_name_part(client, county, villagers):
    assert names(client.get(f"{URL}?q=赵", headers=county.headers(client, "doctor_a"))) == ["赵大爷", "赵小明"]


def test_search_by_full_id_number_and_phone_uses_the_blind_index(client, county, villagers):
    headers = county.headers(client, "doctor_a")
    assert names(client.get(f"{URL}?q={villagers['poor'].id_number}", headers=headers)) == ["钱二"]
    assert names(client.get(f"{URL}?q=139-0000-0001", headers=headers)) == ["赵大爷"]
    # A part of a number finds nothing: numbers are never scanned.
    assert names(client.get(f"{URL}?q=1390000", headers=headers)) == []


def test_search_by_id_number_respects_scope(client, county, villagers):
    found = client.get(f"{URL}?q={villagers['elsewhere'].id_number}", headers=county.headers(client, "doctor_a"))
    assert names(found) == []


def test_filter_by_region_and_group(client, county, villagers):
    headers = county.headers(client, "county_admin")
    assert names(client.get(f"{URL}?region_code={VILLAGE_A2}", headers=headers)) == ["钱二"]
    assert names(client.get(f"{URL}?group=elderly_65", headers=headers)) == ["赵大爷"]
    assert names(client.get(f"{URL}?group=child_0_6", headers=headers)) == ["赵小明"]
    assert names(client.get(f"{URL}?group=poverty_relief", headers=headers)) == ["钱二"]
    assert names(client.get(f"{URL}?group=hypertension", headers=headers)) == []
    bad = client.get(f"{URL}?group=vip", headers=headers)
    assert bad.status_code == 422 and "group" in bad.get_json()["errors"]


def test_list_shows_masked_identifiers_only(client, county, villagers):
    body = client.get(URL, headers=county.headers(client, "county_admin")).get_data(as_text=True)
    assert "赵大爷" in body
    for resident in villagers.values():
        assert resident.id_number not in body
        if resident.phone:
            assert resident.phone not in body


def test_staff_set_groups_address_and_phone(client, county, villagers):
    resident = villagers["old"]
    headers = county.headers(client, "doctor_a")
    response = client.patch(f"{URL}/{resident.id}", headers=headers,
                            json={"groups": ["disabled", "special_family_planning"], "address": "平安村一组",
                                  "phone": "13511112222"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["groups"] == ["disabled", "elderly_65", "special_family_planning"]
    assert body["phone"] == "135****2222" and body["address"] == "平安村一组"
    assert names(client.get(f"{URL}?q=13511112222", headers=headers)) == ["赵大爷"]


def test_derived_groups_cannot_be_set_by_hand(client, county, villagers):
    response = client.patch(f"{URL}/{villagers['poor'].id}", json={"groups": ["elderly_65"]},
                            headers=county.headers(client, "doctor_a"))
    assert response.status_code == 422 and "groups" in response.get_json()["errors"]
    db.session.expire_all()
    assert [t.group for t in db.session.get(Resident, villagers["poor"].id).tags] == ["poverty_relief"]


def test_moving_a_resident_out_of_ones_area_is_403(client, county, villagers):
    response = client.patch(f"{URL}/{villagers['old'].id}", json={"region_code": VILLAGE_B1},
                            headers=county.headers(client, "doctor_a"))
    assert response.status_code == 403


def test_patching_a_resident_out_of_scope_is_404(client, county, villagers):
    response = client.patch(f"{URL}/{villagers['elsewhere'].id}", json={"address": "x"},
                            headers=county.headers(client, "doctor_a"))
    assert response.status_code == 404


def test_a_doctor_dials_a_resident_of_its_area_and_the_number_read_is_logged(client, county, villagers):
    """Tap-to-call: the full number leaves the server only for this, one resident at a time,
    to a team member in scope, and the access log says so."""
    old = villagers["old"]
    doctor = county.headers(client, "doctor_a")
    answer = client.post(f"{URL}/{old.id}/dial", headers=doctor)
    assert answer.status_code == 200
    assert answer.get_json() == {"tel": "tel:13900000001", "phone": "139****0001", "phone_wrong": False}
    log = client.get(f"{URL}/{old.id}/access-log", headers=doctor).get_json()["items"]
    assert log[0]["action"] == "POST /api/v1/residents/{resident_id}/dial"
    no_phone = client.post(f"{URL}/{villagers['young'].id}/dial", headers=doctor)
    assert no_phone.status_code == 409 and no_phone.get_json()["code"] == "no_phone"


@pytest.mark.parametrize("who, status", [("doctor_b", 404), ("county_admin", 403), ("inst_admin", 403)])
def test_only_a_doctor_in_scope_may_dial(client, county, villagers, who, status):
    answer = client.post(f"{URL}/{villagers['old'].id}/dial", headers=county.headers(client, who))
    assert answer.status_code == status
    assert "13900000001" not in answer.get_data(as_text=True)


def test_a_resident_account_cannot_dial(client, wechat, county, villagers):
    from tests.factories import account_login

    account = account_login(client, wechat, "o-dialer")
    assert client.post(f"{URL}/{villagers['old'].id}/dial", headers=account).status_code == 403
