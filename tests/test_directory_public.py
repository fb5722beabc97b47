"""The resident-facing directory: regions, teams serving a village, packages."""
from __future__ import annotations

from backend.directory.models import Staff, TeamMember
from backend.extensions import db
from tests.factories import TOWNSHIP_A, VILLAGE_A1, VILLAGE_B1


def test_regions_without_parent_lists_provinces(client, county):
    body = client.get("/api/v1/regions").get_json()
    assert [r["code"] for r in body["items"]] == ["220000000000"]
    assert body["items"][0] == {"code": "220000000000", "name": "吉林省", "level": "province", "parent_code": None}


def test_regions_lists_the_children_of_a_parent(client, county):
    body = client.get(f"/api/v1/regions?parent={TOWNSHIP_A}").get_json()
    assert [(r["code"], r["name"], r["level"]) for r in body["items"]] == [
        ("220802100001", "平安村", "village"), ("220802100002", "永安村", "village"),
    ]


def test_regions_rejects_a_malformed_parent(client):
    response = client.get("/api/v1/regions?parent=2208")
    assert response.status_code == 422
    assert "parent" in response.get_json()["errors"]


def test_teams_serving_a_village_include_the_team_of_its_township(client, county):
    body = client.get(f"/api/v1/teams?region_code={VILLAGE_A1}").get_json()
    assert [t["name"] for t in body["items"]] == ["平安镇家医一队"]
    team = body["items"][0]
    assert team == {
        "id": county.teams["a"].id,
        "name": "平安镇家医一队",
        "institution": {"id": county.institutions["center_a"].id, "name": "平安镇卫生院"},
        "leader": {"id": county.staff["doctor_a"].id, "name": "王医生", "title": "doctor"},
        "member_count": 3,
        # One member with the doctor title: the national ceiling of 2,000.
        "capacity": 2000,
        "contracted_count": 0,
        "accepting": True,
    }


def test_teams_serving_a_village_do_not_include_other_villages_teams(client, county):
    names = [t["name"] for t in client.get(f"/api/v1/teams?region_code={VILLAGE_B1}").get_json()["items"]]
    assert names == ["青山镇家医一队"]


def test_teams_of_a_county_include_the_teams_serving_places_inside_it(client, county):
    names = {t["name"] for t in client.get("/api/v1/teams?region_code=220802000000").get_json()["items"]}
    assert names == {"平安镇家医一队", "青山镇家医一队"}


def test_inactive_teams_are_not_offered(client, county):
    county.teams["a"].active = False
    db.session.commit()
    assert client.get(f"/api/v1/teams?region_code={VILLAGE_A1}").get_json()["items"] == []


def test_team_detail_lists_members_area_and_packages(client, county):
    body = client.get(f"/api/v1/teams/{county.teams['a'].id}").get_json()
    assert [(m["name"], m["team_role"]) for m in body["members"]] == [
        ("王医生", "leader"), ("李护士", "member"), ("赵村医", "member"),
    ]
    assert body["service_area"] == [TOWNSHIP_A]
    assert body["packages"] == ["basic", "elderly"]


def test_unknown_team_is_404(client, county):
    response = client.get("/api/v1/teams/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_capacity_grows_with_each_doctor_and_respects_a_lower_limit(client, county):
    team = county.teams["a"]
    second = Staff(username="doctor-a2", password_hash="x", name="孙医生", title="doctor", roles=["doctor"],
                   institution=county.institutions["center_a"])
    team.members.append(TeamMember(staff=second, team_role="member"))
    db.session.commit()
    assert client.get(f"/api/v1/teams/{team.id}").get_json()["capacity"] == 4000
    team.capacity_limit = 1500
    db.session.commit()
    assert client.get(f"/api/v1/teams/{team.id}").get_json()["capacity"] == 1500
    team.capacity_limit = 9000  # never above the national ceiling
    db.session.commit()
    assert client.get(f"/api/v1/teams/{team.id}").get_json()["capacity"] == 4000


def test_service_packages_show_price_and_fee_split(client, county):
    body = client.get("/api/v1/service-packages").get_json()
    by_code = {p["code"]: p for p in body["items"]}
    assert by_code["elderly"]["funding"] == {"public_health_fen": 10000, "insurance_fen": 10000, "self_pay_fen": 10000}
    assert by_code["elderly"]["eligible_groups"] == ["elderly_65"]
    assert by_code["basic"]["kind"] == "basic" and by_code["basic"]["price_fen"] == 12000
    only_basic = client.get("/api/v1/service-packages?kind=basic").get_json()["items"]
    assert [p["code"] for p in only_basic] == ["basic"]
