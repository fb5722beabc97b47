"""County statistics against a small county counted by hand (domain-rules.md "Indicators")."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone

import pytest

from backend import clock
from backend.contracts.models import Contract
from backend.directory.models import Population
from backend.extensions import db, new_id
from backend.followups.models import Condition, FollowUp
from tests.factories import (
    COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, add_resident, id_number_for,
)

D = "2026-06-30"


def contract(resident, team, status, start, end=None, ended_on=None, renewal_of=None):
    from backend.contracts.rules import end_date_for

    c = Contract(id=new_id(), resident_id=resident.id, team_id=team.id, status=status, start_date=start,
                 end_date=end or (end_date_for(start) if start else None), ended_on=ended_on,
                 renewal_of=renewal_of, created_by_kind="staff", created_by_id="x")
    db.session.add(c)
    db.session.flush()
    return c


def condition(resident, registered_on, deregistered_on=None, next_due_on=None, disease="hypertension"):
    c = Condition(id=new_id(), resident_id=resident.id, disease=disease, diagnosed_on=date(2020, 1, 1),
                  registered_on=registered_on, deregistered_on=deregistered_on,
                  deregistration_reason="death" if deregistered_on else None,
                  next_due_on=next_due_on or registered_on)
    db.session.add(c)
    db.session.flush()
    return c


def visit(cond, day, method, on_target, next_due_on):
    db.session.add(FollowUp(
        id=new_id(), resident_id=cond.resident_id, condition_id=cond.id, disease=cond.disease, visited_on=day,
        method=method, sbp=130 if on_target else 160, dbp=80 if on_target else 95, classification=(
            "controlled" if on_target else "uncontrolled"), on_target=on_target, next_due_on=next_due_on,
        body_hash="x", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))


@pytest.fixture
def small_county(county):
    """Six residents, counted by hand in the comments; as of 2026-06-30."""
    r = {
        "r1": add_resident("甲一", id_number_for(date(1950, 1, 1), 11), None, VILLAGE_A1),   # elderly
        "r2": add_resident("甲二", id_number_for(date(1980, 1, 1), 12), None, VILLAGE_A1),
        "r3": add_resident("甲三", id_number_for(date(1990, 1, 1), 13), None, VILLAGE_A1),
        "r4": add_resident("乙一", id_number_for(date(1955, 1, 1), 14), None, VILLAGE_A2),   # elderly
        "r5": add_resident("丙一", id_number_for(date(1985, 1, 1), 15), None, VILLAGE_B1),
        "r6": add_resident("丙二", id_number_for(date(1940, 1, 1), 16), None, VILLAGE_B1),   # elderly
    }
    a, b = county.teams["a"], county.teams["b"]
    contract(r["r1"], a, "active", date(2026, 1, 1))                                  # contracted
    contract(r["r2"], a, "pending", None)                                             # not yet
    contract(r["r3"], a, "terminated", date(2025, 10, 1), ended_on=date(2026, 5, 1))  # until 1 May
    old = contract(r["r4"], a, "expired", date(2025, 3, 1), ended_on=date(2026, 2, 28))  # ended, renewed
    contract(r["r4"], a, "active", date(2026, 3, 1), renewal_of=old.id)               # contracted
    contract(r["r5"], b, "expired", date(2025, 4, 1), ended_on=date(2026, 3, 31))     # ended, not renewed
    contract(r["r6"], b, "active", date(2025, 7, 1))                                  # ends 30 June: contracted
    for code, size, elderly in ((VILLAGE_A1, 10, 4), (VILLAGE_A2, 5, 2), (VILLAGE_B1, 8, 3)):
        db.session.add(Population(region_code=code, year=2026, resident_population=size,
                                  groups={"elderly_65": elderly}))

    p1 = condition(r["r1"], date(2024, 1, 1), next_due_on=date(2026, 8, 8))
    visit(p1, date(2026, 2, 10), "clinic", True, date(2026, 5, 11))
    visit(p1, date(2026, 5, 10), "home", True, date(2026, 8, 8))                   # 2 face-to-face: standardized
    p2 = condition(r["r4"], date(2025, 6, 1), next_due_on=date(2026, 4, 15))
    visit(p2, date(2026, 3, 1), "clinic", False, date(2026, 3, 15))
    visit(p2, date(2026, 4, 1), "phone", False, date(2026, 4, 15))                 # 1 face-to-face; overdue
    p3 = condition(r["r6"], date(2026, 5, 15), next_due_on=date(2026, 8, 30))      # Q2 registration: needs 1
    visit(p3, date(2026, 6, 1), "clinic", True, date(2026, 8, 30))
    condition(r["r5"], date(2023, 1, 1), deregistered_on=date(2025, 12, 1))        # gone before 2026
    p5 = condition(r["r2"], date(2023, 1, 1), deregistered_on=date(2026, 3, 1))     # managed in 2026
    visit(p5, date(2026, 1, 15), "clinic", False, date(2026, 1, 29))
    condition(r["r3"], date(2026, 7, 15), next_due_on=date(2026, 7, 29))           # registered after D
    db.session.commit()
    return r


def get(client, headers, path):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_contract_indicators_by_hand(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), f"/api/v1/stats/contracts?as_of={D}")
    assert body["region"] == {"code": COUNTY, "name": "洮北区", "level": "county"}
    assert (body["population"], body["contracted"], body["coverage_rate"]) == (23, 3, 0.1304)
    assert body["groups"]["elderly_65"] == {"population": 9, "contracted": 3, "rate": 0.3333}
    assert body["groups"]["pregnant"] == {"population": None, "contracted": 0, "rate": None}
    assert (body["renewal_due"], body["renewed"], body["renewal_rate"]) == (2, 1, 0.5)
    children = {c["region"]["code"]: c for c in body["children"]}
    assert set(children) == {TOWNSHIP_A, TOWNSHIP_B}
    assert (children[TOWNSHIP_A]["population"], children[TOWNSHIP_A]["contracted"],
            children[TOWNSHIP_A]["coverage_rate"]) == (15, 2, 0.1333)
    assert (children[TOWNSHIP_B]["contracted"], children[TOWNSHIP_B]["coverage_rate"]) == (1, 0.125)
    assert children[TOWNSHIP_B]["renewal_rate"] == 0.0
    assert body["contracted"] == sum(c["contracted"] for c in body["children"])


def test_a_township_drills_down_to_its_villages(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"),
               f"/api/v1/stats/contracts?region_code={TOWNSHIP_A}&as_of={D}")
    assert [(c["region"]["code"], c["contracted"], c["coverage_rate"]) for c in body["children"]] == [
        (VILLAGE_A1, 1, 0.1), (VILLAGE_A2, 1, 0.2)]
    village = get(client, county.headers(client, "county_admin"),
                  f"/api/v1/stats/contracts?region_code={VILLAGE_A1}&as_of={D}")
    assert (village["contracted"], village["children"]) == (1, [])


def test_contracted_on_an_earlier_day(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), "/api/v1/stats/contracts?as_of=2026-04-30")
    assert body["contracted"] == 4  # r1, r3 (terminated only on 1 May), r4's renewal, r6


def test_zero_denominators_give_null(client, county, small_county):
    clock.freeze(clock.parse_moment("2027-01-10T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), "/api/v1/stats/contracts")
    assert body["population"] is None and body["coverage_rate"] is None  # no populations for 2027


def test_chronic_indicators_by_hand(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-06-30T18:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), "/api/v1/stats/chronic?disease=hypertension")
    assert (body["year"], body["as_of"], body["disease"]) == (2026, D, "hypertension")
    assert {k: body[k] for k in ("managed", "standardized", "standardized_rate", "controlled", "control_rate",
                                 "overdue")} == {
        "managed": 4, "standardized": 2, "standardized_rate": 0.5, "controlled": 2, "control_rate": 0.5,
        "overdue": 1}
    children = {c["region"]["code"]: c for c in body["children"]}
    assert (children[TOWNSHIP_A]["managed"], children[TOWNSHIP_A]["standardized"],
            children[TOWNSHIP_A]["controlled"], children[TOWNSHIP_A]["overdue"]) == (3, 1, 1, 1)
    assert (children[TOWNSHIP_B]["managed"], children[TOWNSHIP_B]["standardized_rate"]) == (1, 1.0)


def test_required_visits_grow_with_the_quarters(client, county, small_county):
    # On 31 March only Q1 counts: r1 (one visit in Q1) and r4 (one) are standardized, r2 too.
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"),
               "/api/v1/stats/chronic?disease=hypertension&as_of=2026-03-31")
    assert (body["managed"], body["standardized"]) == (3, 3)


def test_a_past_year_is_counted_to_its_end(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), "/api/v1/stats/chronic?disease=hypertension&year=2025")
    assert body["as_of"] == "2025-12-31"
    assert body["managed"] == 4  # r1, r4, r5 (deregistered 1 Dec 2025), r2
    assert body["standardized"] == 0  # no visits in 2025 at all


def test_no_patients_give_null_rates(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), "/api/v1/stats/chronic?disease=diabetes")
    assert (body["managed"], body["standardized_rate"], body["control_rate"]) == (0, None, None)


def test_team_statistics(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-06-30T18:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"), "/api/v1/stats/teams")
    rows = {r["team"]["name"]: r for r in body["items"]}
    assert set(rows) == {"平安镇家医一队", "青山镇家医一队"}
    assert {k: rows["平安镇家医一队"][k] for k in ("contracted", "capacity", "pending", "overdue_follow_ups")} == {
        "contracted": 2, "capacity": 2000, "pending": 1, "overdue_follow_ups": 1}
    assert rows["平安镇家医一队"]["utilization_rate"] == 0.001
    assert (rows["青山镇家医一队"]["contracted"], rows["青山镇家医一队"]["overdue_follow_ups"]) == (1, 0)
    # A limit set below the ceiling is the capacity; a team without a doctor-titled member has none.
    county.teams["a"].capacity_limit = 40
    db.session.commit()
    rows = {r["team"]["id"]: r for r in get(client, county.headers(client, "county_admin"),
                                             "/api/v1/stats/teams")["items"]}
    assert (rows[county.teams["a"].id]["capacity"], rows[county.teams["a"].id]["utilization_rate"]) == (40, 0.05)
    assert all(r["capacity"] == 2000 * sum(1 for m in team.members if m.staff.title == "doctor")
               for team in county.teams.values() if team.id in rows and team.id != county.teams["a"].id
               for r in [rows[team.id]])


def test_monthly_trend(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-06-30T18:00:00+08:00"))
    body = get(client, county.headers(client, "county_admin"),
               "/api/v1/stats/trend?metric=contracted&from=2026-01&to=2026-06")
    assert [(p["month"], p["value"]) for p in body["points"]] == [
        ("2026-01", 5), ("2026-02", 5), ("2026-03", 5), ("2026-04", 4), ("2026-05", 3), ("2026-06", 3)]
    rates = get(client, county.headers(client, "county_admin"),
                "/api/v1/stats/trend?metric=hypertension_standardized_rate&from=2026-06&to=2026-07")
    assert [(p["month"], p["as_of"], p["value"]) for p in rates["points"]] == [("2026-06", D, 0.5)]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_has_chinese_headers_and_a_row_per_region(client, county, small_county):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    headers = {**county.headers(client, "county_admin"), "Accept": "text/csv"}
    rows = csv_rows(client.get(f"/api/v1/stats/contracts?as_of={D}", headers=headers))
    assert rows[0][:7] == ["区划代码", "区划名称", "层级", "截至日期", "常住人口", "签约人数", "签约覆盖率"]
    assert "65岁及以上老年人签约率" in rows[0] and rows[0][-1] == "续约率"
    assert [r[1] for r in rows[1:]] == ["洮北区", "平安镇", "青山镇"]
    assert rows[1][4:7] == ["23", "3", "0.1304"]
    chronic = csv_rows(client.get("/api/v1/stats/chronic?disease=hypertension&as_of=2026-06-30", headers=headers))
    assert chronic[0][6:9] == ["管理人数", "规范管理人数", "规范管理率"] and chronic[1][5:9] == ["高血压", "4", "2", "0.5"]
    teams = csv_rows(client.get("/api/v1/stats/teams", headers=headers))
    assert teams[0][0] == "团队" and len(teams) == 3
    trend = csv_rows(client.get("/api/v1/stats/trend?metric=coverage_rate&from=2026-05&to=2026-06", headers=headers))
    assert trend[0] == ["月份", "截至日期", "签约覆盖率"] and len(trend) == 3


def test_json_stays_the_default(client, county, small_county):
    response = client.get("/api/v1/stats/contracts", headers={**county.headers(client, "county_admin"),
                                                              "Accept": "*/*"})
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("who, path, status", [
    ("county_admin", f"/api/v1/stats/contracts?region_code={COUNTY}", 200),
    ("root", f"/api/v1/stats/contracts?region_code={COUNTY}", 200),
    ("other_county_admin", f"/api/v1/stats/contracts?region_code={COUNTY}", 403),
    ("inst_admin", f"/api/v1/stats/contracts?region_code={TOWNSHIP_A}", 200),
    ("inst_admin", f"/api/v1/stats/contracts?region_code={VILLAGE_A1}", 200),
    ("inst_admin", f"/api/v1/stats/contracts?region_code={COUNTY}", 403),
    ("inst_admin", f"/api/v1/stats/chronic?region_code={TOWNSHIP_B}", 403),
    ("doctor_a", "/api/v1/stats/contracts", 403),
    ("doctor_a", "/api/v1/stats/teams", 403),
])
def test_who_reads_which_statistics(client, county, small_county, who, path, status):
    assert client.get(path, headers=county.headers(client, who)).status_code == status


def test_the_default_region_is_the_callers_own(client, county, small_county):
    assert get(client, county.headers(client, "county_admin"), "/api/v1/stats/contracts")["region"]["code"] == COUNTY
    assert get(client, county.headers(client, "inst_admin"), "/api/v1/stats/contracts")["region"]["code"] == TOWNSHIP_A


def test_statistics_need_a_token(client, small_county):
    assert client.get("/api/v1/stats/contracts").status_code == 401


@pytest.mark.parametrize("path, field", [
    ("/api/v1/stats/contracts?as_of=2099-01-01", "as_of"),
    ("/api/v1/stats/contracts?as_of=yesterday", "as_of"),
    ("/api/v1/stats/contracts?region_code=12", "region_code"),
    ("/api/v1/stats/chronic?disease=asthma", "disease"),
    ("/api/v1/stats/chronic?year=2025&as_of=2026-01-01", "as_of"),
    ("/api/v1/stats/trend?metric=happiness", "metric"),
    ("/api/v1/stats/trend", "metric"),
    ("/api/v1/stats/trend?metric=contracted&from=2026-13", "from"),
    ("/api/v1/stats/trend?metric=contracted&from=2026-06&to=2026-01", "from"),
    ("/api/v1/stats/trend?metric=contracted&from=2020-01&to=2026-01", "from"),
])
def test_bad_queries_are_422(client, county, small_county, path, field):
    clock.freeze(clock.parse_moment("2026-07-01T09:00:00+08:00"))
    response = client.get(path, headers=county.headers(client, "county_admin"))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_unknown_region_is_404(client, county, small_county):
    response = client.get("/api/v1/stats/contracts?region_code=220802999000", headers=county.headers(client, "root"))
    assert response.status_code == 404
