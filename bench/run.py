"""The county-scale benchmark: latency of the hot endpoints against a running gunicorn, the
statistics against hand-written SQL, and the reminder jobs.

    bench/generate          # once: the county at the chosen scale
    bench/run               # prints the table, writes bench/results/run-<time>.json
    bench/run --province    # after bench/generate --counties N: see bench/province.py

Each latency is measured over real HTTP from this process with a few concurrent clients, after
a warm-up. The floor of every endpoint is the /healthz p95; the floor of each statistics
endpoint is the same indicator computed by one hand-written SQL query, run here on a connection
with the service's session settings (config.PG_SESSION_OPTIONS), so that the ratio weighs query
shapes, not settings.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg
import requests

from bench.generate import DEFAULT_URL, bench_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PASSWORD = "bench-password-1"

TARGETS = {
    "POST follow-up": ("floor", 3.0),
    "GET due list": ("floor", 3.0),
    "GET /stats/contracts": ("sql", 1.5),
    "GET /stats/chronic": ("sql", 1.5),
    "GET /stats/teams": ("sql", 1.5),
    "GET health record": ("floor", 3.0),
    "GET work list behind": ("ms", 100.0),
    "GET work list ending": ("ms", 100.0),
}
TARGET_NAMES = {"floor": "floor", "sql": "SQL"}


_sessions = threading.local()


def http() -> requests.Session:
    """This thread's HTTP session (kept alive across its requests)."""
    if not hasattr(_sessions, "s"):
        _sessions.s = requests.Session()
    return _sessions.s


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000, "n": len(ordered)}


def warm_up(call, rounds: int, concurrency: int) -> None:
    """``rounds`` calls from each of ``concurrency`` clients at once, so that every server worker
    has served the endpoint before the clock starts: a worker's first calls build its statements
    and plans and open its connection."""
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: call(), range(rounds * concurrency)))


def timings(call, count: int, concurrency: int) -> list[float]:
    """The seconds each of ``count`` calls took, made by ``concurrency`` clients at once."""
    samples: list[float] = []
    lock = threading.Lock()

    def one(_):
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        with lock:
            samples.append(elapsed)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return samples


def measure(call, count: int, concurrency: int, warmup: int = 10) -> dict[str, float]:
    warm_up(call, warmup, concurrency)
    return percentiles(timings(call, count, concurrency))


def measure_together(calls: list[tuple[str, object]], count: int, concurrency: int, rounds: int,
                     more=lambda: False) -> dict:
    """Percentiles of each call, measured in ``rounds`` interleaved rounds (each call in turn,
    ``count / rounds`` times per round), so that the floor and the endpoints held against it
    sample the same stretch of time: a shared machine's speed drifts by tens of percent from one
    minute to the next. Rounds go on after those while ``more()`` says so."""
    for _, call in calls:
        warm_up(call, 10, concurrency)
    samples: dict[str, list[float]] = {name: [] for name, _ in calls}
    round_ = 0
    while round_ < rounds or more():
        for name, call in calls:
            samples[name] += timings(call, count // rounds, concurrency)
        round_ += 1
        print(f"  round {round_} measured", file=sys.stderr)
    return {name: percentiles(taken) for name, taken in samples.items()}


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "wsgi:app",
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("gunicorn did not start")


def login(base: str, username: str) -> dict:
    response = requests.post(f"{base}/api/v1/auth/staff/login", json={"username": username, "password": PASSWORD},
                             timeout=30)
    response.raise_for_status()
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def ok(response: requests.Response) -> None:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}")


# The hand-written SQL each statistics endpoint is held against: the same indicators, by
# township, written out by hand (one or more statements, run one after another).
CONTRACTED = """(SELECT DISTINCT resident_id FROM contracts
    WHERE start_date <= %(d)s AND end_date >= %(d)s AND status IN ('active', 'expired', 'terminated')
      AND (status <> 'terminated' OR ended_on > %(d)s))"""
MANAGED_ON = "registered_on <= %(d)s AND (deregistered_on IS NULL OR deregistered_on > %(d)s)"
TAGGED_ON = "set_on <= %(d)s AND (removed_on IS NULL OR removed_on > %(d)s)"
HAND_SQL = {
    "GET /stats/contracts": [
        """SELECT substr(r.region_code, 1, 9), count(*),
               sum(CASE WHEN r.birth_date <= %(elderly)s THEN 1 ELSE 0 END),
               sum(CASE WHEN r.birth_date > %(child)s THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM conditions c WHERE c.resident_id = r.id
                                     AND c.disease = 'hypertension' AND c.""" + MANAGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM conditions c WHERE c.resident_id = r.id
                                     AND c.disease = 'diabetes' AND c.""" + MANAGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM resident_groups g WHERE g.resident_id = r.id
                                     AND g."group" = 'pregnant' AND g.""" + TAGGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM resident_groups g WHERE g.resident_id = r.id
                                     AND g."group" = 'severe_mental_disorder'
                                     AND g.""" + TAGGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM resident_groups g WHERE g.resident_id = r.id
                                     AND g."group" = 'tuberculosis' AND g.""" + TAGGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM resident_groups g WHERE g.resident_id = r.id
                                     AND g."group" = 'disabled' AND g.""" + TAGGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM resident_groups g WHERE g.resident_id = r.id
                                     AND g."group" = 'poverty_relief' AND g.""" + TAGGED_ON + """) THEN 1 ELSE 0 END),
               sum(CASE WHEN EXISTS (SELECT 1 FROM resident_groups g WHERE g.resident_id = r.id
                                     AND g."group" = 'special_family_planning'
                                     AND g.""" + TAGGED_ON + """) THEN 1 ELSE 0 END)
           FROM residents r JOIN """ + CONTRACTED + """ k ON k.resident_id = r.id
           WHERE r.region_code LIKE '220802%%' GROUP BY 1""",
        """SELECT substr(r.region_code, 1, 9), count(*),
               sum(CASE WHEN EXISTS (SELECT 1 FROM contracts n WHERE n.renewal_of = c.id
                                     AND n.start_date <= %(d)s) THEN 1 ELSE 0 END)
           FROM contracts c JOIN residents r ON r.id = c.resident_id
           WHERE c.status IN ('active', 'expired') AND c.end_date >= %(year_ago)s AND c.end_date < %(d)s
             AND r.region_code LIKE '220802%%' GROUP BY 1""",
        "SELECT region_code, resident_population, groups FROM populations WHERE year = %(year)s",
    ],
    "GET /stats/chronic": [
        """SELECT substr(r.region_code, 1, 9), count(DISTINCT c.resident_id),
               sum(CASE WHEN (SELECT count(*) FROM follow_ups f WHERE f.resident_id = c.resident_id
                                AND f.disease = c.disease AND f.method IN ('clinic', 'home')
                                AND f.visited_on BETWEEN %(y1)s AND %(d)s)
                             >= %(quarter)s - (CASE WHEN c.registered_on < %(apr1)s THEN 1
                                WHEN c.registered_on < %(jul1)s THEN 2 WHEN c.registered_on < %(oct1)s THEN 3
                                ELSE 4 END) + 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN l.visited_on >= %(y1)s AND l.on_target THEN 1 ELSE 0 END),
               sum(CASE WHEN (c.deregistered_on IS NULL OR c.deregistered_on > %(d)s)
                         AND (l.next_due_on < %(d)s OR (l.resident_id IS NULL AND c.registered_on < %(d14)s))
                        THEN 1 ELSE 0 END)
           FROM conditions c JOIN residents r ON r.id = c.resident_id
           LEFT JOIN (SELECT DISTINCT ON (resident_id) resident_id, visited_on, on_target, next_due_on
                      FROM follow_ups WHERE disease = 'hypertension' AND visited_on <= %(d)s
                      ORDER BY resident_id, visited_on DESC, created_at DESC) l ON l.resident_id = c.resident_id
           WHERE c.disease = 'hypertension' AND c.registered_on <= %(d)s
             AND (c.deregistered_on IS NULL OR c.deregistered_on >= %(y1)s) AND r.region_code LIKE '220802%%'
           GROUP BY 1""",
    ],
    "GET /stats/teams": [
        """WITH held AS (SELECT team_id, resident_id FROM contracts
                         WHERE start_date <= %(d)s AND end_date >= %(d)s
                           AND status IN ('active', 'expired', 'terminated')
                           AND (status <> 'terminated' OR ended_on > %(d)s)),
                pending AS (SELECT team_id, count(*) AS n FROM contracts WHERE status = 'pending' GROUP BY team_id),
                late AS (SELECT h.team_id, count(DISTINCT c.id) AS n FROM held h
                         JOIN conditions c ON c.resident_id = h.resident_id
                         WHERE c.deregistered_on IS NULL AND c.next_due_on < %(d)s GROUP BY h.team_id)
           SELECT h.team_id, count(DISTINCT h.resident_id), max(p.n), max(l.n)
           FROM held h LEFT JOIN pending p ON p.team_id = h.team_id LEFT JOIN late l ON l.team_id = h.team_id
           GROUP BY h.team_id""",
    ],
}


def hand_sql(url: str, name: str, count: int) -> dict[str, float]:
    from backend import clock
    from backend.config import PG_SESSION_OPTIONS

    today = clock.today()
    params = {"d": today, "y1": date(today.year, 1, 1), "elderly": today.replace(year=today.year - 65),
              "child": today.replace(year=today.year - 7), "quarter": (today.month - 1) // 3 + 1,
              "apr1": date(today.year, 4, 1), "jul1": date(today.year, 7, 1), "oct1": date(today.year, 10, 1),
              "d14": today - timedelta(days=14), "year_ago": today.replace(year=today.year - 1), "year": today.year}
    dsn = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, options=PG_SESSION_OPTIONS) as connection:
        def call():
            for statement in HAND_SQL[name]:
                connection.execute(statement, params).fetchall()
        return measure(call, count, 1, warmup=2)


def in_app(env: dict):
    os.environ.update(env)
    from backend import create_app
    from backend.config import load_settings

    return create_app({"JIAYI": load_settings(ROOT / "instance", env)})


def time_planning(app, day: date) -> dict:
    from backend import clock
    from scheduled.jobs import run_recorded

    with app.app_context():
        started = time.perf_counter()
        with clock.frozen_at(clock.parse_moment(f"{day.isoformat()}T07:30:00+08:00")):
            counts = run_recorded("plan-follow-up-reminders", clock.now(), "bench").counts
        return {"seconds": time.perf_counter() - started, **counts}


def time_dispatch(app_env: dict, messages: int) -> dict:
    """Dispatch ``messages`` reminders to the fake WeChat server on loopback."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.wechat_server import FakeWeChat

    with FakeWeChat("wx-bench-appid", "bench-app-secret") as fake:
        env = {**app_env, "JIAYI_WECHAT_APPID": "wx-bench-appid", "JIAYI_WECHAT_SECRET": "bench-app-secret",
               "JIAYI_WECHAT_API_BASE_URL": fake.base_url}
        app = in_app(env)
        import sqlalchemy as sa

        from backend import clock
        from backend.extensions import db
        from backend.notifications.models import Notification
        from scheduled.jobs import run_recorded

        with app.app_context():
            moment = clock.parse_moment(f"{date.today().isoformat()}T09:00:00+08:00")
            # Reminders for residents whose account holds a credit, due now.
            rows = db.session.execute(sa.text("""
                SELECT c.id, c.resident_id, c.disease, c.next_due_on FROM conditions c
                JOIN account_residents ar ON ar.resident_id = c.resident_id
                WHERE c.deregistered_on IS NULL LIMIT :n"""), {"n": messages}).all()
            db.session.execute(sa.delete(Notification).where(Notification.status.in_(("pending", "claimed"))))
            # Every run spends credits: give each chosen resident's accounts one for the template,
            # so that a run measures sending, not an exhausted subscription.
            db.session.execute(sa.text("""
                UPDATE subscription_credits SET credits = credits + 1
                WHERE template_id = 'demo-follow-up-template' AND account_id IN (
                    SELECT account_id FROM account_residents WHERE resident_id = ANY(:ids))"""),
                {"ids": [r[1] for r in rows]})
            for condition_id, resident_id, disease, due in rows:
                db.session.add(Notification(
                    idempotency_key=f"bench:{uuid.uuid4()}", resident_id=resident_id, reason="follow_up",
                    subject_id=condition_id, due_on=due, step="due_day", template_id="demo-follow-up-template",
                    page="pages/follow-ups/index", data={"thing1": {"value": "高血压随访"}},
                    send_after=moment - timedelta(minutes=1)))
            db.session.commit()
            started = time.perf_counter()
            sent = cancelled = 0
            with clock.frozen_at(moment):
                while True:
                    counts = run_recorded("dispatch-notifications", clock.now(), "bench").counts
                    sent += counts.get("sent", 0)
                    cancelled += counts.get("cancelled", 0) + counts.get("no_credit", 0)
                    if not any(counts.get(k) for k in ("sent", "cancelled", "no_credit", "retry", "failed")):
                        break
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "sent": sent, "not_sent": cancelled, "per_second": sent / seconds if seconds else 0,
                "fake_received": len(fake.sent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("JIAYI_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, default=600, help="requests per hot endpoint")
    parser.add_argument("--stats-requests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the hot endpoints")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--label", default="")
    parser.add_argument("--province", action="store_true",
                        help="the province benchmark (bench/province.py): statistics at province, city and county "
                             "level from the reporting tables, the refresh, and the rollup against the live figures")
    parser.add_argument("--day-writes", type=int, default=300, help="--province: follow-ups written before the refresh")
    parser.add_argument("--keep-rollup", action="store_true",
                        help="--province: keep the reporting tables a previous run built instead of rebuilding them")
    parser.add_argument("--compare-depth", default="township", choices=("county", "township", "village"),
                        help="--province: the deepest region level compared with the live figures")
    args = parser.parse_args()

    env = {**os.environ, **bench_env(args.database_url), "JIAYI_LOGIN_RATE_LIMIT": "1000 per minute"}
    if args.province:
        from bench import province
        province.main(args, env)
        return
    gunicorn = start_gunicorn(env, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    results: dict[str, dict] = {}
    try:
        doctor, county = login(base, "bench-doctor"), login(base, "bench-county")
        app = in_app(env)
        with app.app_context():
            import sqlalchemy as sa

            from backend.extensions import db

            team_id = db.session.execute(sa.text(
                "SELECT team_id FROM team_members tm JOIN staff s ON s.id = tm.staff_id WHERE s.username = 'bench-doctor'"
            )).scalar()
            patients = [r for (r,) in db.session.execute(sa.text("""
                SELECT c.resident_id FROM conditions c JOIN contracts k ON k.resident_id = c.resident_id
                WHERE k.team_id = :t AND k.status = 'active' AND c.disease = 'hypertension'
                  AND c.deregistered_on IS NULL LIMIT 2000"""), {"t": team_id})]
            # The team's work list is measured on the county's largest team, by one of its members.
            largest, contracts, member = db.session.execute(sa.text("""
                SELECT k.team_id, count(*) AS n,
                       (SELECT s.username FROM team_members tm JOIN staff s ON s.id = tm.staff_id
                        WHERE tm.team_id = k.team_id ORDER BY s.username LIMIT 1)
                FROM contracts k WHERE k.status = 'active' GROUP BY k.team_id ORDER BY n DESC LIMIT 1""")).one()
        if not patients:
            raise SystemExit("no patients in the bench doctor's team: run bench/generate first")
        rng = random.Random(1)

        def healthz():
            ok(http().get(f"{base}/healthz", timeout=30))

        def follow_up():
            resident = rng.choice(patients)
            ok(http().post(f"{base}/api/v1/residents/{resident}/follow-ups", headers=doctor, timeout=30, json={
                "id": str(uuid.uuid4()), "disease": "hypertension", "visited_on": date.today().isoformat(),
                "method": "clinic", "sbp": rng.randint(110, 170), "dbp": rng.randint(65, 100)}))

        def due_list():
            ok(http().get(f"{base}/api/v1/follow-ups/due?scope=team&window=overdue&page_size=50", headers=doctor,
                          timeout=30))

        def record():
            ok(http().get(f"{base}/api/v1/residents/{rng.choice(patients)}/health-record", headers=doctor, timeout=30))

        hot = [("GET /healthz", healthz), ("POST follow-up", follow_up), ("GET due list", due_list),
               ("GET health record", record)]
        results.update(measure_together(hot, args.requests, args.concurrency, args.rounds))
        # The live computation (the reference the reporting tables are checked against), held
        # against hand-written SQL; `--province` measures the statistics read from the tables.
        for name, path in (("GET /stats/contracts", "/api/v1/stats/contracts?source=live"),
                           ("GET /stats/chronic", "/api/v1/stats/chronic?disease=hypertension&source=live"),
                           ("GET /stats/teams", "/api/v1/stats/teams?source=live")):
            results[name] = measure(lambda p=path: ok(http().get(base + p, headers=county, timeout=120)),
                                    args.stats_requests, 1, warmup=2)
            results[name]["sql"] = hand_sql(args.database_url, name, args.stats_requests)
            print(f"  measured {name}", file=sys.stderr)
        member_headers = login(base, member)
        for kind in ("behind", "ending"):
            path = f"/api/v1/teams/{largest}/fulfilment?kind={kind}&page_size=50"
            name = f"GET work list {kind}"
            results[name] = {**measure(lambda p=path: ok(http().get(base + p, headers=member_headers, timeout=60)),
                                       args.stats_requests * 5, 1, warmup=3), "team_contracts": contracts}
            print(f"  measured {name} ({contracts} active contracts)", file=sys.stderr)
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    planning = time_planning(in_app(env), date.today())
    dispatch = time_dispatch(env, args.messages)
    report(results, planning, dispatch, args)


def report(results: dict, planning: dict, dispatch: dict, args) -> None:
    floor = results["GET /healthz"]["p95"]
    rows, verdicts = [], []
    for name, r in results.items():
        ratio_to = r["sql"]["p95"] if "sql" in r else floor
        ratio = r["p95"] / ratio_to if ratio_to else float("nan")
        target = TARGETS.get(name)
        if target is None:
            met, verdict = None, ""
        elif target[0] == "ms":
            met = r["p95"] <= target[1]
            verdict = f"p95 ≤ {target[1]:.0f} ms: {'met' if met else 'MISSED'}"
        else:
            met = ratio <= target[1]
            verdict = f"≤ {target[1]}× {TARGET_NAMES[target[0]]}: {'met' if met else 'MISSED'}"
        verdicts.append(met)
        rows.append((name, r["p50"], r["p95"], r["p99"], ratio_to, ratio, verdict))
    print()
    print(f"{'figure':<24}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'floor ms':>10}{'ratio':>8}  target")
    for name, p50, p95, p99, base, ratio, verdict in rows:
        print(f"{name:<24}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{base:>10.1f}{ratio:>8.2f}  {verdict}")
    plan_met = planning["seconds"] <= 60
    dispatch_met = dispatch["per_second"] >= 50
    print(f"{'plan one county day':<24}{planning['seconds']:>9.2f} s  ({planning.get('due', 0)} due, "
          f"{planning.get('planned', 0)} planned)  target ≤ 60 s: {'met' if plan_met else 'MISSED'}")
    print(f"{'dispatch to WeChat':<24}{dispatch['per_second']:>9.1f} msg/s ({dispatch['sent']} sent in "
          f"{dispatch['seconds']:.2f} s)  target ≥ 50/s: {'met' if dispatch_met else 'MISSED'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"run-{stamp}{('-' + args.label) if args.label else ''}.json"
    out.write_text(json.dumps({"endpoints": results, "planning": planning, "dispatch": dispatch,
                               "requests": args.requests, "concurrency": args.concurrency,
                               "workers": args.workers, "rounds": args.rounds}, indent=2, default=str))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
