"""Acceptance on the demo county: the county is the sum of its townships, and every rate equals
a hand-written SQL recomputation of the indicator's definition."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.directory.regions import prefix_of
from backend.stats.service import rate
from tests.factories import login

COUNTY = "220802000000"


@pytest.fixture
def demo(app, client):
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    headers = login(client, "county-admin", "jiayi-demo-2025")
    return headers


def scalar(sql: str, **params):
    return db.session.execute(sa.text(sql), params).scalar()


CONTRACTED_SQL = """
SELECT count(DISTINCT c.resident_id) FROM contracts c JOIN residents r ON r.id = c.resident_id
WHERE r.region_code LIKE :prefix AND c.start_date <= :d AND c.end_date >= :d
  AND c.status IN ('active', 'expired', 'terminated') AND (c.status <> 'terminated' OR c.ended_on > :d)
"""

MANAGED = """
FROM conditions c JOIN residents r ON r.id = c.resident_id
WHERE c.disease = :disease AND c.registered_on <= :d
  AND (c.deregistered_on IS NULL OR c.deregistered_on >= :y1) AND r.region_code LIKE :prefix
"""

STANDARDIZED_SQL = "SELECT count(*) " + MANAGED + """
  AND (SELECT count(*) FROM follow_ups f WHERE f.resident_id = c.resident_id AND f.disease = c.disease
        AND f.method IN ('clinic', 'home') AND f.visited_on >= :y1 AND f.visited_on <= :d)
      >= :qd - (CASE WHEN c.registered_on < :apr1 THEN 1 WHEN c.registered_on < :jul1 THEN 2
                     WHEN c.registered_on < :oct1 THEN 3 ELSE 4 END) + 1
"""

# The latest visit by NOT EXISTS (the service uses a window function): two ways to one answer.
CONTROLLED_SQL = "SELECT count(*) " + MANAGED + """
  AND EXISTS (SELECT 1 FROM follow_ups f WHERE f.resident_id = c.resident_id AND f.disease = c.disease
      AND f.visited_on >= :y1 AND f.visited_on <= :d AND f.on_target = TRUE
      AND NOT EXISTS (SELECT 1 FROM follow_ups g WHERE g.resident_id = f.resident_id AND g.disease = f.disease
          AND g.visited_on <= :d AND (g.visited_on > f.visited_on
              OR (g.visited_on = f.visited_on AND g.created_at > f.created_at))))
"""


def test_the_county_is_the_sum_of_its_townships(client, demo):
    body = client.get("/api/v1/stats/contracts", headers=demo).get_json()
    assert len(body["children"]) >= 8
    for key in ("population", "contracted", "renewal_due", "renewed"):
        assert body[key] == sum(child[key] for child in body["children"]), key
    elderly = body["groups"]["elderly_65"]
    assert elderly["contracted"] == sum(c["groups"]["elderly_65"]["contracted"] for c in body["children"])
    for disease in ("hypertension", "diabetes"):
        chronic = client.get(f"/api/v1/stats/chronic?disease={disease}", headers=demo).get_json()
        for key in ("managed", "standardized", "controlled", "overdue"):
            assert chronic[key] == sum(child[key] for child in chronic["children"]), (disease, key)


def test_every_rate_equals_hand_written_sql(client, demo):
    today = clock.today()
    body = client.get("/api/v1/stats/contracts", headers=demo).get_json()
    for region in [body, *body["children"]]:
        prefix = prefix_of(region["region"]["code"]) + "%"
        contracted = scalar(CONTRACTED_SQL, prefix=prefix, d=today)
        population = scalar("SELECT sum(resident_population) FROM populations WHERE year = :y AND region_code LIKE :p",
                            y=today.year, p=prefix)
        assert region["contracted"] == contracted
        assert region["coverage_rate"] == rate(contracted, population)
    assert 0.55 <= body["coverage_rate"] <= 0.70
    assert body["groups"]["elderly_65"]["rate"] > body["coverage_rate"]

    since = today.replace(year=today.year - 1)
    ended = scalar("SELECT count(*) FROM contracts WHERE status IN ('active', 'expired') "
                   "AND end_date >= :s AND end_date < :d", s=since, d=today)
    renewed = scalar("SELECT count(*) FROM contracts c WHERE status IN ('active', 'expired') AND end_date >= :s "
                     "AND end_date < :d AND EXISTS (SELECT 1 FROM contracts n WHERE n.renewal_of = c.id "
                     "AND n.start_date IS NOT NULL AND n.start_date <= :d)", s=since, d=today)
    assert body["renewal_rate"] == rate(renewed, ended)

    params = {"d": today, "y1": date(today.year, 1, 1), "apr1": date(today.year, 4, 1),
              "jul1": date(today.year, 7, 1), "oct1": date(today.year, 10, 1), "qd": (today.month - 1) // 3 + 1}
    for disease in ("hypertension", "diabetes"):
        chronic = client.get(f"/api/v1/stats/chronic?disease={disease}", headers=demo).get_json()
        for region in [chronic, *chronic["children"]]:
            prefix = prefix_of(region["region"]["code"]) + "%"
            args = {**params, "disease": disease, "prefix": prefix}
            managed = scalar("SELECT count(DISTINCT c.resident_id) " + MANAGED, **args)
            assert region["managed"] == managed
            assert region["standardized_rate"] == rate(scalar(STANDARDIZED_SQL, **args), managed)
            assert region["control_rate"] == rate(scalar(CONTROLLED_SQL, **args), managed)
        assert 0.5 <= chronic["standardized_rate"] <= 0.8
    hypertension = client.get("/api/v1/stats/chronic?disease=hypertension", headers=demo).get_json()
    assert any(c["standardized_rate"] < 0.65 for c in hypertension["children"])  # some townships below target


def test_the_csv_opens_with_chinese_headers(client, demo):
    response = client.get("/api/v1/stats/contracts", headers={**demo, "Accept": "text/csv"})
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["区划代码", "区划名称", "层级"] and rows[1][1] == "洮北区"
    assert len(rows) == 1 + 1 + len(client.get("/api/v1/stats/contracts", headers=demo).get_json()["children"])
