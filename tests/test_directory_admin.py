"""Directory administration: county_admin everywhere in its area, institution_admin in its institution."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend.directory.models import Institution, Population, Region, ServicePackage, Staff, Team
from backend.extensions import db
from tests.factories import COUNTY, OTHER_VILLAGE, PASSWORD, TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, login

ADMIN = "/api/v1/admin"


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# Regions

def test_county_admin_adds_a_village_with_level_and_parent_derived(client, county):
    response = client.post(f"{ADMIN}/regions", json={"code": "220802100003", "name": "新安村"},
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 201
    assert response.get_json() == {"code": "220802100003", "name": "新安村", "level": "village",
                                   "parent_code": TOWNSHIP_A}
    assert db.session.get(Region, "220802100003").name == "新安村"


def test_region_whose_parent_does_not_exist_is_422(client, county):
    response = client.post(f"{ADMIN}/regions", json={"code": "220802300001", "name": "无镇之村"},
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 422
    assert "220802300000" in response.get_json()["errors"]["code"][0]
    assert db.session.get(Region, "220802300001") is None


def test_duplicate_region_code_is_409_already_exists(client, county):
    response = client.post(f"{ADMIN}/regions", json={"code": VILLAGE_A1, "name": "重复"},
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 409
    assert response.get_json()["code"] == "already_exists"


@pytest.mark.parametrize("code", ["22080210000", "2208021000001", "22080210000a", "000000000000", "220002100000"])
def test_malformed_region_codes_are_422(client, county, code):
    response = client.post(f"{ADMIN}/regions", json={"code": code, "name": "x"},
                           headers=county.headers(client, "root"))
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]


def test_province_needs_no_parent(client, county):
    response = client.post(f"{ADMIN}/regions", json={"code": "230000000000", "name": "黑龙江省"},
                           headers=county.headers(client, "root"))
    assert response.status_code == 201
    assert response.get_json()["level"] == "province"


@pytest.mark.parametrize("who, status", [
    ("county_admin", 201), ("root", 201), ("other_county_admin", 403), ("inst_admin", 403), ("doctor_a", 403),
])
def test_who_may_add_a_region_in_the_county(client, county, who, status):
    response = client.post(f"{ADMIN}/regions", json={"code": "220802100009", "name": "九村"},
                           headers=county.headers(client, who))
    assert response.status_code == status


def test_region_admin_needs_a_token(client, county):
    response = client.post(f"{ADMIN}/regions", json={"code": "220802100009", "name": "九村"})
    assert response.status_code == 401


def test_rename_a_region(client, county):
    response = client.patch(f"{ADMIN}/regions/{VILLAGE_A2}", json={"name": "永安新村"},
                            headers=county.headers(client, "county_admin"))
    assert response.status_code == 200 and response.get_json()["name"] == "永安新村"
    assert client.patch(f"{ADMIN}/regions/220802100099", json={"name": "x"},
                        headers=county.headers(client, "county_admin")).status_code == 404


# Institutions

def test_county_admin_creates_an_institution(client, county):
    response = client.post(f"{ADMIN}/institutions",
                           json={"name": "永安村卫生室", "kind": "village_clinic", "region_code": VILLAGE_A2},
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "永安村卫生室" and body["kind"] == "village_clinic" and body["id"]
    assert body["created_at"].endswith("+08:00")


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "kind": "pharmacy", "region_code": VILLAGE_A2}, "kind"),
    ({"name": "x", "kind": "village_clinic", "region_code": "220802100077"}, "region_code"),
    ({"name": "", "kind": "village_clinic", "region_code": VILLAGE_A2}, "name"),
])
def test_bad_institutions_are_422(client, county, body, field):
    before = count(Institution)
    response = client.post(f"{ADMIN}/institutions", json=body, headers=county.headers(client, "county_admin"))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert count(Institution) == before


@pytest.mark.parametrize("who, region, status", [
    ("county_admin", VILLAGE_A2, 201), ("county_admin", OTHER_VILLAGE, 403),
    ("other_county_admin", VILLAGE_A2, 403), ("inst_admin", VILLAGE_A2, 403), ("doctor_a", VILLAGE_A2, 403),
])
def test_who_may_create_an_institution(client, county, who, region, status):
    response = client.post(f"{ADMIN}/institutions", json={"name": "卫生室", "kind": "village_clinic",
                                                          "region_code": region},
                           headers=county.headers(client, who))
    assert response.status_code == status


def test_institution_admin_renames_its_own_institution_only(client, county):
    headers = county.headers(client, "inst_admin")
    own, other = county.institutions["center_a"].id, county.institutions["center_b"].id
    assert client.patch(f"{ADMIN}/institutions/{own}", json={"name": "平安镇中心卫生院"},
                        headers=headers).status_code == 200
    assert client.patch(f"{ADMIN}/institutions/{other}", json={"name": "x"}, headers=headers).status_code == 403
    assert client.patch(f"{ADMIN}/institutions/{own}", json={"kind": "county_hospital"},
                        headers=headers).status_code == 403


def test_institution_list_is_scoped(client, county):
    mine = client.get(f"{ADMIN}/institutions", headers=county.headers(client, "inst_admin")).get_json()
    assert [i["name"] for i in mine["items"]] == ["平安镇卫生院"]
    theirs = client.get(f"{ADMIN}/institutions", headers=county.headers(client, "county_admin")).get_json()
    assert "镇赉镇卫生院" not in {i["name"] for i in theirs["items"]}
    assert theirs["total"] == 4
    clinics = client.get(f"{ADMIN}/institutions?kind=village_clinic",
                         headers=county.headers(client, "county_admin")).get_json()
    assert [i["name"] for i in clinics["items"]] == ["平安村卫生室"]


# Staff

def new_staff(**overrides):
    return {"username": "new-doctor", "password": "long-enough-pw", "name": "新医生", "title": "doctor",
            "roles": ["doctor"], **overrides}


def test_institution_admin_adds_a_doctor_who_can_then_log_in(client, county):
    body = new_staff(institution_id=county.institutions["center_a"].id)
    response = client.post(f"{ADMIN}/staff", json=body, headers=county.headers(client, "inst_admin"))
    assert response.status_code == 201
    created = response.get_json()
    assert "password" not in created and created["roles"] == ["doctor"]
    stored = db.session.get(Staff, created["id"])
    assert stored.password_hash.startswith("$argon2id$") and "long-enough-pw" not in stored.password_hash
    login(client, "new-doctor", "long-enough-pw")


def test_short_password_is_422(client, county):
    body = new_staff(institution_id=county.institutions["center_a"].id, password="short")
    response = client.post(f"{ADMIN}/staff", json=body, headers=county.headers(client, "inst_admin"))
    assert response.status_code == 422
    assert "password" in response.get_json()["errors"]


def test_duplicate_username_is_409(client, county):
    body = new_staff(username="doctor-a", institution_id=county.institutions["center_a"].id)
    response = client.post(f"{ADMIN}/staff", json=body, headers=county.headers(client, "inst_admin"))
    assert response.status_code == 409 and response.get_json()["code"] == "already_exists"


@pytest.mark.parametrize("who, institution, roles, status", [
    ("inst_admin", "center_a", ["doctor"], 201),
    ("inst_admin", "center_a", ["doctor", "institution_admin"], 201),
    ("inst_admin", "center_b", ["doctor"], 403),
    ("inst_admin", "center_a", ["county_admin"], 403),
    ("county_admin", "center_b", ["doctor"], 201),
    ("county_admin", "center_other", ["doctor"], 403),
    ("other_county_admin", "center_a", ["doctor"], 403),
    ("doctor_a", "center_a", ["doctor"], 403),
])
def test_who_may_create_staff(client, county, who, institution, roles, status):
    body = new_staff(institution_id=county.institutions[institution].id, roles=roles)
    response = client.post(f"{ADMIN}/staff", json=body, headers=county.headers(client, who))
    assert response.status_code == status


def test_doctor_without_institution_is_422(client, county):
    response = client.post(f"{ADMIN}/staff", json=new_staff(), headers=county.headers(client, "county_admin"))
    assert response.status_code == 422
    assert "institution_id" in response.get_json()["errors"]


def test_unknown_role_is_422(client, county):
    body = new_staff(institution_id=county.institutions["center_a"].id, roles=["superuser"])
    response = client.post(f"{ADMIN}/staff", json=body, headers=county.headers(client, "county_admin"))
    assert response.status_code == 422 and "roles" in response.get_json()["errors"]


def test_county_admin_cannot_create_an_unscoped_county_admin(client, county):
    body = new_staff(title="admin", roles=["county_admin"])
    response = client.post(f"{ADMIN}/staff", json=body, headers=county.headers(client, "county_admin"))
    assert response.status_code == 403
    scoped = client.post(f"{ADMIN}/staff", json={**body, "region_code": COUNTY},
                         headers=county.headers(client, "county_admin"))
    assert scoped.status_code == 201


def test_disabling_staff_through_patch(client, county):
    doctor = county.staff["doctor_a"]
    response = client.patch(f"{ADMIN}/staff/{doctor.id}", json={"active": False},
                            headers=county.headers(client, "inst_admin"))
    assert response.status_code == 200 and response.get_json()["active"] is False
    bad = client.post("/api/v1/auth/staff/login", json={"username": "doctor-a", "password": PASSWORD})
    assert bad.status_code == 401


def test_institution_admin_cannot_edit_staff_of_another_institution(client, county):
    response = client.patch(f"{ADMIN}/staff/{county.staff['doctor_b'].id}", json={"name": "x"},
                            headers=county.headers(client, "inst_admin"))
    assert response.status_code == 403
    assert db.session.get(Staff, county.staff["doctor_b"].id).name == "刘医生"


def test_staff_list_is_scoped(client, county):
    mine = client.get(f"{ADMIN}/staff", headers=county.headers(client, "inst_admin")).get_json()
    assert {s["username"] for s in mine["items"]} == {"center-a-admin", "doctor-a", "nurse-a"}
    found = client.get(f"{ADMIN}/staff?q=医生", headers=county.headers(client, "county_admin")).get_json()
    assert {s["username"] for s in found["items"]} == {"doctor-a", "doctor-b"}


# Teams

def new_team(county, **overrides):
    return {"name": "平安镇家医二队", "institution_id": county.institutions["center_a"].id,
            "service_area": [VILLAGE_A2], "package_codes": ["basic"], **overrides}


def test_institution_admin_creates_a_team_and_adds_members(client, county):
    headers = county.headers(client, "inst_admin")
    response = client.post(f"{ADMIN}/teams", json=new_team(county, capacity=800), headers=headers)
    assert response.status_code == 201
    team = response.get_json()
    assert team["service_area"] == [VILLAGE_A2] and team["packages"] == ["basic"]
    assert team["members"] == [] and team["capacity"] == 0 and team["accepting"] is False
    added = client.post(f"{ADMIN}/teams/{team['id']}/members",
                        json={"staff_id": county.staff["doctor_a"].id, "team_role": "leader"}, headers=headers)
    assert added.status_code == 201
    assert added.get_json()["leader"]["name"] == "王医生"
    # The doctor's limit of 2,000 is lowered by the team's own 800.
    assert added.get_json()["capacity"] == 800 and added.get_json()["accepting"] is True
    village = client.post(f"{ADMIN}/teams/{team['id']}/members",
                          json={"staff_id": county.staff["village_doctor"].id}, headers=headers)
    assert village.status_code == 201 and village.get_json()["member_count"] == 2
    listed = client.get(f"/api/v1/teams?region_code={VILLAGE_A2}").get_json()["items"]
    assert {t["name"] for t in listed} == {"平安镇家医一队", "平安镇家医二队"}


@pytest.mark.parametrize("overrides, field", [
    ({"service_area": ["220802100077"]}, "service_area"),
    ({"service_area": [OTHER_VILLAGE]}, "service_area"),
    ({"service_area": []}, "service_area"),
    ({"package_codes": ["gold"]}, "package_codes"),
    ({"capacity": 0}, "capacity"),
    ({"capacity": "many"}, "capacity"),
])
def test_bad_teams_are_422_and_nothing_is_written(client, county, overrides, field):
    before = count(Team)
    response = client.post(f"{ADMIN}/teams", json=new_team(county, **overrides),
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert count(Team) == before


def test_team_of_an_unknown_institution_is_422(client, county):
    response = client.post(f"{ADMIN}/teams", json=new_team(county, institution_id="nope"),
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 422 and "institution_id" in response.get_json()["errors"]


@pytest.mark.parametrize("who, status", [
    ("inst_admin", 201), ("county_admin", 201), ("inst_admin_b", 403), ("other_county_admin", 403),
    ("doctor_a", 403),
])
def test_who_may_create_a_team(client, county, who, status):
    response = client.post(f"{ADMIN}/teams", json=new_team(county), headers=county.headers(client, who))
    assert response.status_code == status


def test_patch_team_replaces_service_area_and_packages(client, county):
    team = county.teams["a"]
    response = client.patch(f"{ADMIN}/teams/{team.id}",
                            json={"service_area": [VILLAGE_A1], "package_codes": ["elderly"], "name": "平安一队"},
                            headers=county.headers(client, "inst_admin"))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["service_area"], body["packages"], body["name"]) == ([VILLAGE_A1], ["elderly"], "平安一队")
    assert client.get(f"/api/v1/teams?region_code={VILLAGE_A2}").get_json()["items"] == []


def test_institution_admin_cannot_patch_another_institutions_team(client, county):
    response = client.patch(f"{ADMIN}/teams/{county.teams['b'].id}", json={"name": "x"},
                            headers=county.headers(client, "inst_admin"))
    assert response.status_code == 403


def test_adding_a_member_twice_is_409(client, county):
    response = client.post(f"{ADMIN}/teams/{county.teams['a'].id}/members",
                           json={"staff_id": county.staff["nurse_a"].id}, headers=county.headers(client, "inst_admin"))
    assert response.status_code == 409 and response.get_json()["code"] == "already_exists"


def test_staff_from_another_county_cannot_join(client, county):
    response = client.post(f"{ADMIN}/teams/{county.teams['a'].id}/members",
                           json={"staff_id": county.staff["doctor_other"].id},
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 422 and "staff_id" in response.get_json()["errors"]


def test_a_new_leader_replaces_the_old_one(client, county):
    team = county.teams["a"]
    response = client.post(f"{ADMIN}/teams/{team.id}/members",
                           json={"staff_id": county.staff["doctor_b"].id, "team_role": "leader"},
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 201
    roles = {m["name"]: m["team_role"] for m in response.get_json()["members"]}
    assert roles["刘医生"] == "leader" and roles["王医生"] == "member"


def test_remove_member(client, county):
    team = county.teams["a"]
    headers = county.headers(client, "inst_admin")
    response = client.delete(f"{ADMIN}/teams/{team.id}/members/{county.staff['nurse_a'].id}", headers=headers)
    assert response.status_code == 204
    assert client.get(f"/api/v1/teams/{team.id}").get_json()["member_count"] == 2
    again = client.delete(f"{ADMIN}/teams/{team.id}/members/{county.staff['nurse_a'].id}", headers=headers)
    assert again.status_code == 404
    other = client.delete(f"{ADMIN}/teams/{county.teams['b'].id}/members/{county.staff['doctor_b'].id}",
                          headers=headers)
    assert other.status_code == 403


# Service packages

def package(**overrides):
    return {"code": "diabetes_plus", "name": "糖尿病个性化包", "kind": "personalized", "price_fen": 20000,
            "funding": {"public_health_fen": 5000, "insurance_fen": 10000, "self_pay_fen": 5000},
            "items": [{"code": "fpg", "name": "空腹血糖检测", "per_year": 4, "eligible_groups": ["diabetes"]}],
            "eligible_groups": ["diabetes"], **overrides}


def test_county_admin_creates_a_package(client, county):
    response = client.post(f"{ADMIN}/service-packages", json=package(), headers=county.headers(client, "county_admin"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["funding"]["self_pay_fen"] == 5000 and body["items"][0]["per_year"] == 4


@pytest.mark.parametrize("overrides, field", [
    ({"price_fen": 25000}, "funding"),
    ({"kind": "basic"}, "funding"),
    ({"price_fen": -1}, "price_fen"),
    ({"eligible_groups": ["vip"]}, "eligible_groups"),
    ({"code": "Bad Code"}, "code"),
    ({"funding": {"public_health_fen": 20000}}, "funding.insurance_fen"),
])
def test_bad_packages_are_422(client, county, overrides, field):
    response = client.post(f"{ADMIN}/service-packages", json=package(**overrides),
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert count(ServicePackage) == 2


def test_duplicate_package_code_is_409(client, county):
    response = client.post(f"{ADMIN}/service-packages", json=package(code="basic"),
                           headers=county.headers(client, "county_admin"))
    assert response.status_code == 409 and response.get_json()["code"] == "already_exists"


@pytest.mark.parametrize("who, status", [("county_admin", 201), ("inst_admin", 403), ("doctor_a", 403)])
def test_who_may_create_a_package(client, county, who, status):
    response = client.post(f"{ADMIN}/service-packages", json=package(), headers=county.headers(client, who))
    assert response.status_code == status


def test_patch_package_price_keeps_the_split_consistent(client, county):
    pid = county.packages["elderly"].id
    headers = county.headers(client, "county_admin")
    bad = client.patch(f"{ADMIN}/service-packages/{pid}", json={"price_fen": 40000}, headers=headers)
    assert bad.status_code == 422
    good = client.patch(f"{ADMIN}/service-packages/{pid}", headers=headers, json={
        "price_fen": 40000, "funding": {"public_health_fen": 10000, "insurance_fen": 10000, "self_pay_fen": 20000}})
    assert good.status_code == 200 and good.get_json()["funding"]["self_pay_fen"] == 20000


def test_retired_packages_are_not_offered(client, county):
    pid = county.packages["elderly"].id
    client.patch(f"{ADMIN}/service-packages/{pid}", json={"active": False}, headers=county.headers(client, "root"))
    codes = [p["code"] for p in client.get("/api/v1/service-packages").get_json()["items"]]
    assert codes == ["basic"]


# Populations

def test_put_population_sets_and_replaces_denominators(client, county):
    headers = county.headers(client, "county_admin")
    url = f"{ADMIN}/populations/{VILLAGE_A1}/2025"
    first = client.put(url, json={"resident_population": 1200, "groups": {"elderly_65": 180}}, headers=headers)
    assert first.status_code == 200
    assert first.get_json() == {"region_code": VILLAGE_A1, "year": 2025, "resident_population": 1200,
                                "groups": {"elderly_65": 180}}
    second = client.put(url, json={"resident_population": 1250, "groups": {"elderly_65": 190, "hypertension": 160}},
                        headers=headers)
    assert second.get_json()["resident_population"] == 1250
    assert count(Population) == 1
    assert client.get(url, headers=headers).get_json()["groups"] == {"elderly_65": 190, "hypertension": 160}


@pytest.mark.parametrize("body, field", [
    ({"resident_population": -5}, "resident_population"),
    ({"resident_population": 100, "groups": {"aliens": 3}}, "groups"),
    ({"resident_population": 100, "groups": {"elderly_65": 300}}, "groups"),
    ({}, "resident_population"),
])
def test_bad_populations_are_422(client, county, body, field):
    response = client.put(f"{ADMIN}/populations/{VILLAGE_A1}/2025", json=body,
                          headers=county.headers(client, "county_admin"))
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert count(Population) == 0


def test_population_of_unknown_region_or_year_out_of_range(client, county):
    headers = county.headers(client, "root")
    assert client.put(f"{ADMIN}/populations/220802100077/2025", json={"resident_population": 1},
                      headers=headers).status_code == 404
    response = client.put(f"{ADMIN}/populations/{VILLAGE_A1}/1800", json={"resident_population": 1}, headers=headers)
    assert response.status_code == 422 and "year" in response.get_json()["errors"]


@pytest.mark.parametrize("who, region, status", [
    ("county_admin", VILLAGE_B1, 200), ("county_admin", OTHER_VILLAGE, 403),
    ("inst_admin", VILLAGE_A1, 403), ("doctor_a", VILLAGE_A1, 403),
])
def test_who_may_set_populations(client, county, who, region, status):
    response = client.put(f"{ADMIN}/populations/{region}/2025", json={"resident_population": 10},
                          headers=county.headers(client, who))
    assert response.status_code == status
