"""Sign-ups racing each other against a running server, on PostgreSQL (where production runs).

Each request comes through its own HTTP connection and database connection; the
database constraints and the team row lock must hold where the checks before them cannot.
"""
from __future__ import annotations

import threading
from datetime import date

import pytest
import requests
from flask_jwt_extended import create_access_token

from backend.contracts.models import Contract
from backend.extensions import db
from backend.residents.models import Account, AccountResident
from tests.conftest import DATABASE_URL
from tests.factories import VILLAGE_A1, add_resident, id_number_for, served

pytestmark = pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                                reason="concurrency is specified on PostgreSQL (set TEST_DATABASE_URL)")


@pytest.fixture
def server(app):
    with served(app) as url:
        yield url


def race(url: str, requests_: list[tuple[dict, dict]]) -> list[requests.Response]:
    """Fire every (headers, body) POST to ``url`` at once, released together by a barrier."""
    return race_posts([(url, headers, body) for headers, body in requests_])


def race_posts(posts: list[tuple[str, dict, dict]]) -> list[requests.Response]:
    """Fire every (url, headers, body) POST at once, released together by a barrier."""
    barrier = threading.Barrier(len(posts))
    results: list = [None] * len(posts)

    def one(i, url, headers, body):
        barrier.wait()
        results[i] = requests.post(url, json=body, headers=headers, timeout=60)

    threads = [threading.Thread(target=one, args=(i, *post)) for i, post in enumerate(posts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def bearer(kind: str, subject: str) -> dict:
    return {"Authorization": "Bearer " + create_access_token(identity=subject, additional_claims={"kind": kind})}


def test_twenty_simultaneous_sign_ups_for_one_resident_make_one_contract(server, county):
    resident = add_resident("周大海", id_number_for(date(1955, 5, 5), 515), "13900005151", VILLAGE_A1)
    account = Account(openid="o-zhou")
    db.session.add(account)
    db.session.flush()
    db.session.add(AccountResident(account_id=account.id, resident_id=resident.id, relation="self"))
    db.session.commit()
    headers = bearer("account", account.id)
    body = {"resident_id": resident.id, "team_id": county.teams["a"].id, "package_codes": ["basic"]}

    responses = race(f"{server}/api/v1/contracts", [(headers, body)] * 20)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"contract_exists"}
    db.session.expire_all()
    assert db.session.query(Contract).filter_by(resident_id=resident.id).count() == 1


def test_simultaneous_sign_ups_for_the_last_place_give_it_to_exactly_one(server, county):
    team = county.teams["a"]
    team.capacity_limit = 3
    db.session.commit()
    doctor = bearer("staff", county.staff["doctor_a"].id)
    holders = [add_resident(f"已签{n}", id_number_for(date(1960, 1, 1 + n), 600 + n), None, VILLAGE_A1)
               for n in range(2)]
    for holder in holders:
        db.session.add(Contract(resident_id=holder.id, team_id=team.id, status="pending",
                                created_by_kind="staff", created_by_id=county.staff["doctor_a"].id))
    db.session.commit()
    hopefuls = [add_resident(f"申请{n}", id_number_for(date(1970, 2, 1 + n), 700 + n), None, VILLAGE_A1)
                for n in range(10)]
    bodies = [{"resident_id": r.id, "team_id": team.id, "package_codes": ["basic"]} for r in hopefuls]

    responses = race(f"{server}/api/v1/contracts", [(doctor, b) for b in bodies])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"team_full"}
    db.session.expire_all()
    assert db.session.query(Contract).filter_by(team_id=team.id).count() == 3



def test_visits_of_one_resident_recorded_at_once_are_all_counted_on_the_contract(server, client, county):
    """Each visit counts its resident's deliveries again in its own transaction; eight recorded
    at the same moment (a phone sending what it took offline while a colleague records one) each
    wait for the one before, so the count kept on the contract's item holds all eight."""
    import uuid

    from backend import clock
    from tests.factories import counts_kept

    clock.freeze(clock.parse_moment("2026-03-02T09:00:00+08:00"))
    county.packages["basic"].items = [{"code": "bp_follow_up", "name": "高血压随访", "per_year": 12,
                                       "eligible_groups": ["hypertension"], "follow_up_disease": "hypertension"}]
    resident = add_resident("孙桂兰", id_number_for(date(1950, 3, 3), 303), "13900003030", VILLAGE_A1)
    db.session.commit()
    doctor = county.headers(client, "doctor_a")
    assert client.post(f"/api/v1/residents/{resident.id}/conditions", headers=doctor,
                       json={"disease": "hypertension", "diagnosed_on": "2020-05-01"}).status_code == 201
    created = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": resident.id, "team_id": county.teams["a"].id, "package_codes": ["basic"]}).get_json()
    assert client.post(f"/api/v1/contracts/{created['id']}/approve", headers=doctor,
                       json={"start_date": "2026-03-02"}).status_code == 200
    clock.freeze(clock.parse_moment("2026-09-01T09:00:00+08:00"))
    visits = [(doctor, {"id": str(uuid.uuid4()), "disease": "hypertension", "visited_on": f"2026-0{month}-10",
                        "method": "clinic", "sbp": 130, "dbp": 80}) for month in range(3, 9)]
    visits += [(doctor, {"id": str(uuid.uuid4()), "disease": "hypertension", "visited_on": f"2026-0{month}-20",
                         "method": "home", "sbp": 130, "dbp": 80}) for month in (3, 4)]
    responses = race(f"{server}/api/v1/residents/{resident.id}/follow-ups", visits)
    assert [r.status_code for r in responses] == [201] * 8, [r.text[:200] for r in responses]
    assert counts_kept(created["id"]) == {"bp_follow_up": 8}


def test_contracts_of_one_team_terminated_at_once_leave_the_team_counted_right(server, county):
    """Each termination counts the team again in its own transaction (contracts.counts); six at
    the same moment each wait for the one before, so the count kept for the day is the last
    word: none left."""
    from datetime import timedelta

    from backend import clock
    from backend.contracts.models import TeamCount

    team, doctor = county.teams["a"], county.staff["doctor_a"]
    today = clock.today()
    contracts = []
    for n in range(6):
        resident = add_resident(f"解约{n}", id_number_for(date(1965, 3, 1 + n), 800 + n), None, VILLAGE_A1)
        contract = Contract(resident_id=resident.id, team_id=team.id, status="active", region_code=VILLAGE_A1,
                            start_date=today - timedelta(days=30), end_date=today + timedelta(days=300),
                            created_by_kind="staff", created_by_id=doctor.id)
        db.session.add(contract)
        db.session.flush()
        contracts.append(contract.id)
    db.session.commit()
    assert (db.session.get(TeamCount, team.id).counted_on, db.session.get(TeamCount, team.id).contracted) == (today, 6)

    headers = bearer("staff", doctor.id)
    results = race_posts([(f"{server}/api/v1/contracts/{c}/terminate", headers, {"reason": "迁出"})
                          for c in contracts])
    assert [r.status_code for r in results] == [200] * 6, [r.text[:200] for r in results]
    db.session.expire_all()
    stored = db.session.get(TeamCount, team.id)
    assert (stored.counted_on, stored.contracted) == (today, 0)
    assert requests.get(f"{server}/api/v1/teams/{team.id}", timeout=30).json()["contracted_count"] == 0
