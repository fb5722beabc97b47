"""The access log: every read of a resident's data is recorded first, or the read fails."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.security.models import AccessLog
from tests.factories import VILLAGE_A1, account_login, add_resident, id_number_for

ID = id_number_for(date(1955, 8, 8), 808)


@pytest.fixture
def family(client, wechat, county):
    resident = add_resident("周桂芝", ID, "13812345678", VILLAGE_A1)
    headers = account_login(client, wechat, "o-zhou")
    assert client.post("/api/v1/me/residents", headers=headers, json={
        "name": "周桂芝", "id_number": ID, "phone": "13812345678", "relation": "self"}).status_code == 201
    return resident, headers


def entries(resident_id: str) -> list[AccessLog]:
    return list(db.session.scalars(sa.select(AccessLog).where(AccessLog.resident_id == resident_id)
                                   .order_by(AccessLog.at)))


def test_a_staff_read_is_logged_with_who_when_and_where(client, county, family):
    resident, _ = family
    clock.freeze(clock.parse_moment("2026-11-23T09:30:00+08:00"))
    assert client.get(f"/api/v1/residents/{resident.id}", headers=county.headers(client, "doctor_a")).status_code == 200
    (entry,) = entries(resident.id)
    assert (entry.actor_kind, entry.actor_name, entry.actor_institution) == ("staff", "王医生", "平安镇卫生院")
    assert entry.action == "GET /api/v1/residents/{resident_id}"
    assert clock.to_civil(entry.at).isoformat() == "2026-11-23T09:30:00+08:00"


def test_a_list_read_logs_each_listed_resident(client, county, family):
    resident, _ = family
    client.get("/api/v1/residents", headers=county.headers(client, "doctor_a"))
    assert [e.action for e in entries(resident.id)] == ["GET /api/v1/residents"]


def test_the_resident_sees_who_read_the_record_including_itself(client, county, family):
    resident, headers = family
    clock.freeze(clock.parse_moment("2026-11-20T08:00:00+08:00"))
    client.get(f"/api/v1/residents/{resident.id}", headers=county.headers(client, "doctor_a"))
    clock.freeze(clock.parse_moment("2026-11-21T08:00:00+08:00"))
    client.get(f"/api/v1/residents/{resident.id}", headers=headers)
    response = client.get(f"/api/v1/residents/{resident.id}/access-log", headers=headers)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert items == [
        {"at": "2026-11-21T08:00:00+08:00", "action": "GET /api/v1/residents/{resident_id}",
         "actor": {"kind": "account", "name": "周桂芝", "institution": None}},
        {"at": "2026-11-20T08:00:00+08:00", "action": "GET /api/v1/residents/{resident_id}",
         "actor": {"kind": "staff", "name": "王医生", "institution": "平安镇卫生院"}},
    ]


def test_a_read_that_cannot_be_logged_fails_without_the_data(client, county, family):
    resident, _ = family
    headers = county.headers(client, "doctor_a")
    # The log table is gone: the database refuses the write.
    db.session.execute(sa.text("ALTER TABLE access_logs RENAME TO access_logs_away"))
    db.session.commit()
    try:
        response = client.get(f"/api/v1/residents/{resident.id}", headers=headers)
        listing = client.get("/api/v1/residents", headers=headers)
    finally:
        db.session.rollback()
        db.session.execute(sa.text("ALTER TABLE access_logs_away RENAME TO access_logs"))
        db.session.commit()
    for failed in (response, listing):
        assert failed.status_code == 503
        assert failed.get_json()["code"] == "access_log_unavailable"
        assert "周桂芝" not in failed.get_data(as_text=True)
