"""The team sync benchmark: a first full sync of a 3,000-resident team, and the incremental sync
of one day's writes, over real HTTP against gunicorn on loopback.

    bench/sync [--database-url URL] [--residents 3000] [--incremental-runs 30]

It REPLACES the public schema of its scratch database (default jiayi_h_a), migrates it, builds
one township's team of ``--residents`` residents with a year of conditions, follow-ups,
contracts (ended ones too), services and calls, beside a neighbouring township's team with
records of its own (which the sync must leave out), then:

- first full sync: every page from no cursor to ``has_more: false``, as the doctors' app asks
  (``Accept-Encoding: gzip``); the time from the first request to the last answer, the pages,
  and the bytes on the wire (and as JSON). Budget: ≤ 5 s and ≤ 5 MB.
- a day's writes through the API (follow-ups, services, calls, conditions, edits, sign-ups and
  approvals, a termination, a move out), then the incremental sync from the full sync's cursor,
  repeated: p50/p95. Budget: ≤ 200 ms.

Prints the table and writes bench/results/sync-<time>.json.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import requests

from bench.generate import BENCH_PASSWORD, bench_env, log, migrate, recreate_schema
from bench.run import start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/jiayi_h_a"
FULL_SECONDS, FULL_BYTES, INCREMENTAL_MS = 5.0, 5_000_000, 200.0

REGION6 = "220802"
TOWNSHIPS = (("220802101000", "平安镇"), ("220802102000", "青山镇"))
VILLAGES = 10
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
ITEMS = [{"code": "health_education", "name": "健康教育", "per_year": 2, "eligible_groups": []}]


# The data

def build(residents_per_team: int, seed: int) -> dict:
    """Both teams and their year, written through the models' tables (the personal fields
    encrypted and indexed as the service does); returns the logins and ids the run needs."""
    import sqlalchemy as sa

    from backend import clock, create_app
    from backend.auth.passwords import hash_password
    from backend.contracts.models import Contract, ContractItem, ContractPackage
    from backend.contracts.rules import end_date_for
    from backend.directory.models import (
        Institution, Region, ServicePackage, Staff, Team, TeamMember, TeamPackage, TeamServiceArea,
    )
    from backend.extensions import db, new_id
    from backend.followups.models import Condition, FollowUp
    from backend.fulfilment.models import Call, ServiceDelivery
    from backend.residents.models import Resident
    from backend.security.fields import blind_index
    from backend.security.identity import make_id_number
    from backend.security.masking import mask_phone

    rng = random.Random(seed)
    app = create_app()
    with app.app_context():
        now, today = clock.utcnow(), clock.today()

        def moment(days_ago: float):
            return now - timedelta(days=days_ago, seconds=rng.randrange(3600))

        db.session.add_all([Region(code="220000000000", name="吉林省", level="province"),
                            Region(code="220800000000", name="白城市", level="city", parent_code="220000000000"),
                            Region(code="220802000000", name="洮北区", level="county", parent_code="220800000000")])
        for code, name in TOWNSHIPS:
            db.session.add(Region(code=code, name=name, level="township", parent_code="220802000000"))
            db.session.add_all(Region(code=code[:9] + f"{v:03d}", name=f"{name[:2]}{v}村", level="village",
                                      parent_code=code) for v in range(1, VILLAGES + 1))
        db.session.add(ServicePackage(code="basic", name="基础包", kind="basic", price_fen=12000, public_health_fen=8000,
                                      insurance_fen=4000, self_pay_fen=0, items=ITEMS, eligible_groups=[]))
        db.session.flush()
        password = hash_password(BENCH_PASSWORD)
        teams = []
        for t, (code, name) in enumerate(TOWNSHIPS):
            centre = Institution(name=f"{name}卫生院", kind="township_health_center", region_code=code)
            db.session.add(centre)
            db.session.flush()
            doctors = [Staff(username=f"bench-sync-{t}-{d}", password_hash=password, name=f"{name[:2]}医生{d}",
                             title="doctor", roles=["doctor"], institution_id=centre.id) for d in range(4)]
            team = Team(name=f"{name}家医一队", institution=centre,
                        service_area=[TeamServiceArea(region_code=code)],
                        packages=[TeamPackage(package_code="basic")],
                        members=[TeamMember(staff=s, team_role="leader" if d == 0 else "member")
                                 for d, s in enumerate(doctors)])
            db.session.add(team)
            db.session.flush()
            teams.append((team.id, [s.id for s in doctors], code))
        db.session.commit()

        counts: dict[str, int] = {}

        def insert(model, rows: list[dict]) -> None:
            # One statement for many rows needs the same columns in each (a contract that ended
            # has no doctor; one in force has no end).
            columns = {key for row in rows for key in row}
            rows = [{key: row.get(key) for key in columns} for row in rows]
            for start in range(0, len(rows), 2000):
                db.session.execute(sa.insert(model.__table__), rows[start:start + 2000])
            counts[model.__tablename__] = counts.get(model.__tablename__, 0) + len(rows)

        sequence = 0
        for t, (team_id, doctor_ids, township) in enumerate(teams):
            people, conditions, visits, contracts, packages, services, calls = [], [], [], [], [], [], []
            items = []
            size = residents_per_team if t == 0 else residents_per_team * 2 // 3
            for _ in range(size):
                sequence += 1
                born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 60))
                id_number = make_id_number(REGION6, born, sequence % 1000)
                phone = f"139{sequence:08d}"
                village = township[:9] + f"{rng.randrange(1, VILLAGES + 1):03d}"
                created = moment(rng.uniform(30, 700))
                person = {"id": new_id(), "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                          "id_number_enc": id_number, "id_number_index": blind_index(id_number, "id_number"),
                          "phone_enc": phone, "phone_index": blind_index(phone, "phone"), "phone_shown": mask_phone(phone),
                          "birth_date": born, "sex": "male" if int(id_number[16]) % 2 else "female",
                          "region_code": village, "address": f"{village[-3:]}组{rng.randrange(1, 60)}号",
                          "source": "staff", "created_at": created, "updated_at": max(created, moment(rng.uniform(1, 365)))}
                people.append(person)
                rid, region = person["id"], village
                if rng.random() < 0.7:  # signed with the team this year
                    start = today - timedelta(days=rng.randrange(1, 365))
                    contract = {"id": new_id(), "resident_id": rid, "region_code": region, "team_id": team_id,
                                "doctor_id": rng.choice(doctor_ids), "status": "active", "start_date": start,
                                "end_date": end_date_for(start), "created_by_kind": "staff",
                                "created_by_id": doctor_ids[0], "price_fen": 12000, "public_health_fen": 8000,
                                "insurance_fen": 4000, "self_pay_fen": 0}
                    signed = now - timedelta(days=(today - start).days + 1)
                    contract["created_at"] = contract["updated_at"] = signed
                    contracts.append(contract)
                    packages.append({"contract_id": contract["id"], "package_code": "basic", "name": "基础包",
                                     "kind": "basic", "price_fen": 12000, "public_health_fen": 8000,
                                     "insurance_fen": 4000, "self_pay_fen": 0})
                    items.append({"contract_id": contract["id"], "code": "health_education", "name": "健康教育",
                                  "owed": 2, "follow_up_disease": None, "health_check": False})
                    for _ in range(2):
                        day = start + timedelta(days=rng.randrange(0, max(1, (today - start).days)))
                        at = now - timedelta(days=(today - day).days, seconds=rng.randrange(3600))
                        services.append({"id": new_id(), "resident_id": rid, "item_code": "health_education",
                                         "delivered_on": day, "method": "clinic", "recorded_by_id": doctor_ids[0],
                                         "body_hash": "bench", "created_at": at, "updated_at": at})
                elif rng.random() < 0.3:  # an earlier contract that ended
                    start = today - timedelta(days=rng.randrange(400, 700))
                    ended = now - timedelta(days=rng.randrange(30, 300))
                    contracts.append({"id": new_id(), "resident_id": rid, "region_code": region, "team_id": team_id,
                                      "status": "terminated", "start_date": start, "end_date": end_date_for(start),
                                      "ended_on": ended.date(), "reason": "居民要求解约", "created_by_kind": "staff",
                                      "created_by_id": doctor_ids[0], "created_at": ended - timedelta(days=200),
                                      "updated_at": ended, "price_fen": 12000, "public_health_fen": 8000,
                                      "insurance_fen": 4000, "self_pay_fen": 0})
                for disease, share in (("hypertension", 0.25), ("diabetes", 0.08)):
                    if rng.random() >= share:
                        continue
                    condition_id = new_id()
                    registered = today - timedelta(days=rng.randrange(380, 2000))
                    last = None
                    for quarter in range(4):  # a year of quarterly visits
                        day = today - timedelta(days=365 - quarter * 91 - rng.randrange(0, 20))
                        at = now - timedelta(days=(today - day).days, seconds=rng.randrange(3600))
                        sbp = rng.randrange(118, 158)
                        last = {"id": new_id(), "resident_id": rid, "condition_id": condition_id, "disease": disease,
                                "visited_on": day, "method": rng.choice(("clinic", "home", "phone")), "sbp": sbp,
                                "dbp": sbp - rng.randrange(40, 60), "heart_rate": rng.randrange(60, 90),
                                "weight_kg": round(rng.uniform(50, 85), 1), "height_cm": round(rng.uniform(150, 180)),
                                "fasting_glucose": round(rng.uniform(5, 9), 1) if disease == "diabetes" else None,
                                "medication_adherence": "regular", "adverse_reaction": False, "complication": "none",
                                "symptoms": [], "classification": "controlled" if sbp < 140 else "uncontrolled",
                                "on_target": sbp < 140, "referral_reasons": [], "medications": [],
                                "next_due_on": day + timedelta(days=90), "recorded_by_id": rng.choice(doctor_ids),
                                "body_hash": "bench", "created_at": at, "updated_at": at}
                        visits.append(last)
                    conditions.append({"id": condition_id, "resident_id": rid, "region_code": region,
                                       "disease": disease, "diagnosed_on": registered - timedelta(days=30),
                                       "registered_on": registered, "registered_by_id": doctor_ids[0],
                                       "next_due_on": last["next_due_on"], "last_follow_up_id": last["id"],
                                       "last_visited_on": last["visited_on"], "urgent": False,
                                       "created_at": now - timedelta(days=(today - registered).days),
                                       "updated_at": last["updated_at"]})
                if rng.random() < 0.5:
                    at = moment(rng.uniform(1, 365))
                    calls.append({"id": new_id(), "resident_id": rid, "team_id": team_id,
                                  "outcome": rng.choice(("no_answer", "reached_will_visit", "reached_declined")),
                                  "called_at": at, "called_by_id": rng.choice(doctor_ids), "created_at": at,
                                  "updated_at": at})
            insert(Resident, people)
            insert(Contract, contracts)
            insert(ContractPackage, packages)
            insert(ContractItem, items)
            insert(Condition, conditions)
            insert(FollowUp, visits)
            insert(ServiceDelivery, services)
            insert(Call, calls)
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        team_id, doctor_ids, township = teams[0]
        doctors = list(db.session.scalars(sa.select(Staff.username).where(Staff.id.in_(doctor_ids))
                                          .order_by(Staff.username)))
        return {"team_id": team_id, "usernames": doctors, "township": township, "neighbour": teams[1][2],
                "counts": counts}


# The run

def login(base: str, username: str) -> dict:
    response = requests.post(f"{base}/api/v1/auth/staff/login", json={"username": username,
                                                                      "password": BENCH_PASSWORD}, timeout=30)
    response.raise_for_status()
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def get_page(session: requests.Session, url: str, headers: dict, cursor: str | None,
             limit: int | None = None) -> tuple[dict, int, int]:
    """One page: (body, bytes on the wire, bytes of JSON)."""
    params = {k: v for k, v in (("cursor", cursor), ("limit", limit)) if v is not None}
    response = session.get(url, headers={**headers, "Accept-Encoding": "gzip"}, params=params, stream=True,
                           timeout=60)
    wire = response.raw.read(decode_content=False)
    if response.status_code != 200:
        raise SystemExit(f"GET {response.url}: {response.status_code} {wire[:300]!r}")
    text = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
    return json.loads(text), len(wire), len(text)


def full_sync(session, url, headers, limit: int | None = None) -> dict:
    started = time.perf_counter()
    cursor, pages, wire, text, changes = None, 0, 0, 0, 0
    while True:
        body, w, t = get_page(session, url, headers, cursor, limit)
        pages, wire, text, changes = pages + 1, wire + w, text + t, changes + len(body["changes"])
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    return {"seconds": time.perf_counter() - started, "pages": pages, "wire_bytes": wire, "json_bytes": text,
            "changes": changes, "cursor": cursor}


def incremental(session, url, headers, cursor) -> dict:
    started = time.perf_counter()
    changes, removals, pages, wire = 0, 0, 0, 0
    while True:
        body, w, _ = get_page(session, url, headers, cursor)
        pages, wire = pages + 1, wire + w
        changes, removals, cursor = changes + len(body["changes"]), removals + len(body["removals"]), body["cursor"]
        if not body["has_more"]:
            break
    return {"seconds": time.perf_counter() - started, "changes": changes, "removals": removals, "pages": pages,
            "wire_bytes": wire}


def a_days_writes(base: str, headers: list[dict], admin: dict, data: dict, rng: random.Random) -> dict:
    """What a 3,000-resident team writes in a day, through the API."""
    import psycopg

    from bench.generate import libpq_url

    with psycopg.connect(libpq_url(data["url"])) as conn:
        patients = [r for (r,) in conn.execute(
            "SELECT c.resident_id FROM conditions c JOIN contracts k ON k.resident_id = c.resident_id "
            "WHERE k.team_id = %s AND k.status = 'active' AND c.disease = 'hypertension' LIMIT 200", (data["team_id"],))]
        contracted = [r for (r,) in conn.execute(
            "SELECT resident_id FROM contracts WHERE team_id = %s AND status = 'active' LIMIT 400", (data["team_id"],))]
        unsigned = [r for (r,) in conn.execute(
            "SELECT r.id FROM residents r WHERE r.region_code LIKE %s AND NOT EXISTS (SELECT 1 FROM contracts k "
            "WHERE k.resident_id = r.id AND k.status IN ('pending', 'active')) AND NOT EXISTS (SELECT 1 FROM "
            "conditions c WHERE c.resident_id = r.id) ORDER BY r.id LIMIT 20", (data["township"][:9] + "%",))]
        active = [r for (r,) in conn.execute(
            "SELECT id FROM contracts WHERE team_id = %s AND status = 'active' ORDER BY id DESC LIMIT 3",
            (data["team_id"],))]
    today = date.today().isoformat()
    written: dict[str, int] = {}
    session = requests.Session()

    def post(kind: str, path: str, body: dict | None, who: dict, method: str = "POST") -> dict:
        response = session.request(method, f"{base}/api/v1{path}", json=body, headers=who, timeout=30)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        written[kind] = written.get(kind, 0) + 1
        return response.json()

    for resident in rng.sample(patients, 25):
        post("follow_up", f"/residents/{resident}/follow-ups", {
            "id": str(uuid.uuid4()), "disease": "hypertension", "visited_on": today, "method": "clinic",
            "sbp": rng.randrange(120, 150), "dbp": rng.randrange(70, 90)}, rng.choice(headers))
    for resident in rng.sample(contracted, 30):
        post("service", f"/residents/{resident}/services", {
            "id": str(uuid.uuid4()), "item_code": "health_education", "delivered_on": today, "method": "clinic"},
            rng.choice(headers))
    for resident in rng.sample(contracted, 20):
        post("call", f"/residents/{resident}/calls", {"outcome": rng.choice(("no_answer", "reached_will_visit"))},
             rng.choice(headers))
    for resident in rng.sample(unsigned, 3):
        post("condition", f"/residents/{resident}/conditions",
             {"disease": "diabetes", "diagnosed_on": "2025-06-01"}, headers[0])
    for resident in rng.sample(contracted, 5):
        post("resident edit", f"/residents/{resident}", {"address": "新址" + str(rng.randrange(99))}, headers[0],
             "PATCH")
    for resident in unsigned[:5]:
        made = post("sign-up", "/contracts", {"resident_id": resident, "team_id": data["team_id"],
                                              "package_codes": ["basic"]}, headers[0])
        post("approval", f"/contracts/{made['id']}/approve", {}, headers[1])
    post("termination", f"/contracts/{active[0]}/terminate", {"reason": "居民要求解约"}, headers[0])
    post("move out", f"/residents/{unsigned[-1]}", {"region_code": data["neighbour"][:9] + "001"}, admin, "PATCH")
    return written


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(sorted(samples), n=100, method="inclusive")[q - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="SQLAlchemy URL of a SCRATCH database: its public schema is replaced (default %(default)s)")
    parser.add_argument("--residents", type=int, default=3000, help="residents of the synced team (default 3000)")
    parser.add_argument("--full-runs", type=int, default=3)
    parser.add_argument("--incremental-runs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)

    os.environ.update(bench_env(args.database_url))
    log("recreating the scratch schema and migrating it")
    recreate_schema(args.database_url)
    migrate(args.database_url)
    log(f"building a {args.residents:,}-resident team and its neighbour")
    started = time.monotonic()
    data = {**build(args.residents, args.seed), "url": args.database_url}
    log(f"built in {time.monotonic() - started:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in data["counts"].items()))

    env = {**os.environ, **bench_env(args.database_url), "JIAYI_LOGIN_RATE_LIMIT": "1000 per minute"}
    gunicorn = start_gunicorn(env, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    url = f"{base}/api/v1/sync/teams/{data['team_id']}"
    try:
        doctors = [login(base, name) for name in data["usernames"]]
        admin_name = "bench-sync-admin"
        admin = _admin(base, admin_name)
        session = requests.Session()
        # The first sync of each gunicorn worker builds its statements: warmed on the neighbour's
        # data would be fairer, but a doctor's first sync on a fresh worker is what happens too.
        full_sync(session, url, doctors[0])
        fulls = [full_sync(session, url, doctors[0]) for _ in range(args.full_runs)]
        cursor = fulls[-1]["cursor"]
        fulls_1000 = [full_sync(session, url, doctors[0], 1000) for _ in range(args.full_runs)]
        written = a_days_writes(base, doctors, admin, data, random.Random(args.seed))
        incrementals = [incremental(session, url, doctors[0], cursor) for _ in range(args.incremental_runs)]
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    return report(args, data, fulls, fulls_1000, written, incrementals)


def _admin(base: str, username: str) -> dict:
    """A county administrator (who may move a resident to another township), made for the run."""
    from backend import create_app
    from backend.auth.passwords import hash_password
    from backend.directory.models import Staff
    from backend.extensions import db

    app = create_app()
    with app.app_context():
        db.session.add(Staff(username=username, password_hash=hash_password(BENCH_PASSWORD), name="县卫健局",
                             title="admin", roles=["county_admin"], region_code="220802000000"))
        db.session.commit()
    return login(base, username)


def report(args, data: dict, fulls: list[dict], fulls_1000: list[dict], written: dict,
           incrementals: list[dict]) -> int:
    full = sorted(fulls, key=lambda r: r["seconds"])[len(fulls) // 2]  # the median run
    full_1000 = sorted(fulls_1000, key=lambda r: r["seconds"])[len(fulls_1000) // 2]
    times = [r["seconds"] * 1000 for r in incrementals]
    p50, p95 = percentile(times, 50), percentile(times, 95)
    full_met = full["seconds"] <= FULL_SECONDS and full["wire_bytes"] <= FULL_BYTES
    inc_met = p95 <= INCREMENTAL_MS
    last = incrementals[-1]
    print()
    print(f"team of {args.residents:,} residents: " + ", ".join(f"{k} {v:,}" for k, v in data["counts"].items()))
    print(f"{'figure':<28}{'value':>34}  budget")
    print(f"{'first full sync':<28}{full['seconds']:>32.2f} s  ≤ {FULL_SECONDS:g} s: "
          f"{'met' if full['seconds'] <= FULL_SECONDS else 'MISSED'}")
    print(f"{'  pages (limit 500)':<28}{full['pages']:>34,}")
    print(f"{'  changes':<28}{full['changes']:>34,}")
    print(f"{'  bytes on the wire (gzip)':<28}{full['wire_bytes']:>34,}  ≤ {FULL_BYTES:,}: "
          f"{'met' if full['wire_bytes'] <= FULL_BYTES else 'MISSED'}")
    print(f"{'  bytes of JSON':<28}{full['json_bytes']:>34,}")
    runs = ", ".join(f"{r['seconds']:.2f}" for r in fulls)
    print(f"{'  runs (s)':<28}{runs:>34}")
    runs = ", ".join(f"{r['seconds']:.2f}" for r in fulls_1000)
    print(f"{'first full sync, limit 1000':<28}{full_1000['seconds']:>32.2f} s  ({full_1000['pages']} pages; runs {runs})")
    print(f"{'a day of writes':<28}{sum(written.values()):>34,}  " + ", ".join(f"{k} {v}" for k, v in written.items()))
    print(f"{'incremental sync p50':<28}{p50:>31.1f} ms")
    print(f"{'incremental sync p95':<28}{p95:>31.1f} ms  ≤ {INCREMENTAL_MS:g} ms: {'met' if inc_met else 'MISSED'}")
    counts = f"{last['changes']}, {last['removals']}, {last['pages']}"
    print(f"{'  changes, removals, pages':<28}{counts:>34}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"sync-{stamp}{('-' + args.label) if args.label else ''}.json"
    out.write_text(json.dumps({
        "residents": args.residents, "counts": data["counts"], "workers": args.workers,
        "full_sync": {"median": {k: v for k, v in full.items() if k != "cursor"},
                      "runs": [{k: v for k, v in r.items() if k != "cursor"} for r in fulls],
                      "budget": {"seconds": FULL_SECONDS, "bytes": FULL_BYTES}, "met": full_met},
        "full_sync_limit_1000": {"median": {k: v for k, v in full_1000.items() if k != "cursor"},
                                 "runs": [r["seconds"] for r in fulls_1000]},
        "load_average": os.getloadavg(),
        "day_of_writes": written,
        "incremental": {"p50_ms": p50, "p95_ms": p95, "runs": len(times), "changes": last["changes"],
                        "removals": last["removals"], "pages": last["pages"], "wire_bytes": last["wire_bytes"],
                        "budget_ms": INCREMENTAL_MS, "met": inc_met},
    }, indent=2, default=str))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0 if full_met and inc_met else 1


if __name__ == "__main__":
    sys.exit(main())
