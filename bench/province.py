"""The province benchmark (`bench/run --province`): the statistics at province, city and county
level on a province that `bench/generate --counties N` filled, read from the reporting tables.

Steps, each printed with its target:
1. the reporting tables built from nothing (`rollup --full`), per county;
2. every /stats/* endpoint over real HTTP at each level, p50/p95/p99 (targets: p95 <= 100 ms for
   a county, <= 1 s for the province and city);
3. a day's writes (follow-ups over HTTP), then the incremental refresh (target <= 60 s per
   county), while the follow-up POST and the due list are measured against the /healthz
   floor (target <= 3x);
4. the console in Chromium (bench/console.py): the province, then a click down to a city, a
   county, a township and a village, each screen under a second;
5. every indicator of the province, city, counties and townships (and, with
   --compare-depth village, every village) and every team, read from the tables and computed
   live: the differences are printed, and any difference fails the run.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import uuid
from datetime import date

from bench import console
from bench.run import (PASSWORD, RESULTS, ROOT, http, in_app, login, measure, measure_together, ok,
                       start_gunicorn)

PROVINCE_ADMIN = "bench-province"
LEVEL_TARGET_MS = {"province": 1000.0, "city": 1000.0, "county": 100.0}


def ensure_province_admin(env: dict) -> None:
    """A county_admin without a region: the whole province."""
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "create-admin", "--username",
                           PROVINCE_ADMIN, "--password", PASSWORD, "--name", "省卫健委统计"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 and "exists" not in (done.stdout + done.stderr):
        raise SystemExit(f"create-admin: {done.stderr[-300:]}")


def stats_paths(region: str) -> list[tuple[str, str]]:
    q = f"region_code={region}"
    return [
        ("contracts", f"/api/v1/stats/contracts?{q}"),
        ("chronic hypertension", f"/api/v1/stats/chronic?{q}&disease=hypertension"),
        ("chronic diabetes", f"/api/v1/stats/chronic?{q}&disease=diabetes"),
        ("teams", f"/api/v1/stats/teams?{q}"),
        ("fulfilment", f"/api/v1/stats/fulfilment?{q}"),
        ("trend coverage", f"/api/v1/stats/trend?{q}&metric=coverage_rate"),
        ("trend control", f"/api/v1/stats/trend?{q}&metric=hypertension_control_rate"),
        ("calls", f"/api/v1/stats/calls?{q}"),
    ]


REFRESH_NAME = "jiayi-bench-refresh"  # the refresh process's application_name in pg_stat_activity


def refresh_at_work(app, thread: threading.Thread) -> float:
    """Wait until the refresh process runs a statement in the database (its start-up, importing
    the app, is not load), and return that moment (perf_counter)."""
    import sqlalchemy as sa

    from backend.extensions import db

    while thread.is_alive():
        with app.app_context():
            busy = db.session.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n "
                                             "AND state = 'active'"), {"n": REFRESH_NAME})
        if busy:
            break
        time.sleep(0.05)
    return time.perf_counter()


def main(args, env: dict) -> None:
    app = in_app(env)
    with app.app_context():
        import sqlalchemy as sa

        from backend.extensions import db
        from backend.stats import rollup
        from backend.stats.models import StatSnapshot

        counties = [c.code for c in rollup.counties_in(None)]
        if len(counties) < 2:
            raise SystemExit("one county only: run bench/generate --counties N first")
        province, city = counties[0][:2].ljust(12, "0"), counties[0][:4].ljust(12, "0")
        started = time.perf_counter()
        # --keep-rollup: the tables a previous run built stay (brought up to date); the build's
        # figures are then the seconds each snapshot recorded when it was written.
        built = rollup.refresh(full=not args.keep_rollup)
        build_seconds = time.perf_counter() - started
        per_county = dict(db.session.execute(
            sa.select(StatSnapshot.county_code, sa.func.sum(StatSnapshot.seconds))
            .group_by(StatSnapshot.county_code)).all())
        if args.keep_rollup:
            build_seconds = sum(per_county.values())
        print(f"  rollup --full: {build_seconds:.0f} s for {len(counties)} counties ({built})", file=sys.stderr)

    ensure_province_admin(env)
    gunicorn = start_gunicorn(env, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    results: dict[str, dict] = {}
    try:
        admin, doctor = login(base, PROVINCE_ADMIN), login(base, "bench-doctor")
        for level, region in (("province", province), ("city", city), ("county", counties[0])):
            for name, path in stats_paths(region):
                results[f"{level} {name}"] = {**measure(lambda p=path: ok(http().get(base + p, headers=admin,
                                                                                    timeout=300)),
                                                        args.stats_requests, 1, warmup=2), "level": level}
                response = http().get(base + path, headers=admin, timeout=300)
                results[f"{level} {name}"]["source"] = response.json().get("source")
            print(f"  measured the {level}", file=sys.stderr)

        # A day's writes, then the incremental refresh while the hot endpoints are measured.
        with app.app_context():
            patients = [r for (r,) in db.session.execute(sa.text("""
                SELECT c.resident_id FROM conditions c JOIN contracts k ON k.resident_id = c.resident_id
                JOIN team_members tm ON tm.team_id = k.team_id JOIN staff s ON s.id = tm.staff_id
                WHERE s.username = 'bench-doctor' AND k.status = 'active' AND c.disease = 'hypertension'
                  AND c.deregistered_on IS NULL LIMIT 2000"""))]
        rng = random.Random(3)

        def follow_up():
            ok(http().post(f"{base}/api/v1/residents/{rng.choice(patients)}/follow-ups", headers=doctor, timeout=60,
                           json={"id": str(uuid.uuid4()), "disease": "hypertension",
                                 "visited_on": date.today().isoformat(), "method": "clinic",
                                 "sbp": rng.randint(110, 170), "dbp": rng.randint(65, 100)}))

        def due_list():
            ok(http().get(f"{base}/api/v1/follow-ups/due?scope=team&window=overdue&page_size=50", headers=doctor,
                          timeout=60))

        def healthz():
            ok(http().get(f"{base}/healthz", timeout=30))

        for _ in range(args.day_writes):
            follow_up()
        refreshed: dict = {}

        def refresh_now():
            # In a process of its own, as the scheduler runs it: a thread here would hold this
            # load generator's interpreter lock while it builds the cells.
            begun = time.perf_counter()
            url = env["JIAYI_DATABASE_URL"]
            named = {**env, "JIAYI_DATABASE_URL": url + ("&" if "?" in url else "?") + f"application_name={REFRESH_NAME}"}
            done = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "rollup"], cwd=ROOT,
                                  env=named, capture_output=True, text=True)
            refreshed["begun"], refreshed["seconds"] = begun, time.perf_counter() - begun
            if done.returncode != 0:
                raise SystemExit(f"rollup: {done.stderr[-300:]}")
            refreshed["counts"] = json.loads(done.stdout.strip().splitlines()[-1])

        thread = threading.Thread(target=refresh_now)
        thread.start()
        working = refresh_at_work(app, thread)
        # Interleaved rounds for as long as the refresh runs.
        during = measure_together([("GET /healthz", healthz), ("POST follow-up", follow_up),
                                   ("GET due list", due_list)], args.requests // 8, args.concurrency, 1,
                                  more=thread.is_alive)
        measured_until = time.perf_counter()
        thread.join()
        refreshed["during"] = during
        # The share of the measurement during which the refresh was still running (1.0: all of it).
        ended = refreshed["begun"] + refreshed["seconds"]
        refreshed["overlap"] = round(max(0.0, min(ended, measured_until) - working) / (measured_until - working), 3)
        print(f"  incremental refresh: {refreshed['seconds']:.1f} s ({refreshed['counts']})", file=sys.stderr)
        shown = console.screens(base, PROVINCE_ADMIN)  # the console in Chromium, down to a village
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    with app.app_context():
        # The follow-ups measured during the refresh came after its snapshot: the tables are
        # compared with the records once they hold every write.
        rollup.refresh()
        started = time.perf_counter()
        differences = rollup.compare(None, deepest=args.compare_depth)
        compare_seconds = time.perf_counter() - started
    report(results, per_county, build_seconds, refreshed, shown, differences, compare_seconds, counties, args)


def report(results, per_county, build_seconds, refreshed, shown, differences, compare_seconds, counties, args) -> None:
    verdicts = []
    print()
    print(f"{'statistic':<32}{'source':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  target")
    for name, r in results.items():
        target = LEVEL_TARGET_MS[r["level"]]
        met = r["p95"] <= target
        verdicts.append(met)
        print(f"{name:<32}{r['source'] or '':>8}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}  "
              f"p95 ≤ {target:.0f} ms: {'met' if met else 'MISSED'}")
    changed = max(1, refreshed["counts"].get("snapshots", 0))
    per = refreshed["seconds"] / changed
    verdicts.append(per <= 60)
    print(f"{'rollup --full':<32}{build_seconds:>9.0f} s for {len(counties)} counties "
          f"({', '.join(f'{c}: {s:.0f} s' for c, s in sorted(per_county.items()))})")
    print(f"{'incremental refresh':<32}{refreshed['seconds']:>9.1f} s, {changed} changed county(ies): "
          f"{per:.1f} s per county  target ≤ 60 s: {'met' if per <= 60 else 'MISSED'}")
    during = refreshed["during"]
    floor = during["GET /healthz"]["p95"]
    for name in ("POST follow-up", "GET due list"):
        ratio = during[name]["p95"] / floor if floor else float("nan")
        verdicts.append(ratio <= 3.0)
        print(f"{name + ' (refreshing)':<32}{during[name]['p95']:>9.1f} ms p95, {ratio:.2f}× the floor "
              f"{floor:.1f} ms  target ≤ 3×: {'met' if ratio <= 3.0 else 'MISSED'}")
    print(f"{'':<32}(the refresh ran through {refreshed['overlap']:.0%} of that measurement)")
    print()
    verdicts.append(console.report(shown))
    verdicts.append(not differences)
    print(f"{'rollup vs live':<32}{len(differences):>9} differences (down to {args.compare_depth}, "
          f"{compare_seconds:.0f} s)")
    for line in differences[:20]:
        print(f"    {line[:300]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"province-{stamp}{('-' + args.label) if args.label else ''}.json"
    out.write_text(json.dumps({"statistics": results, "rollup_full_seconds": build_seconds,
                               "per_county_seconds": per_county, "incremental": refreshed, "console_seconds": shown,
                               "differences": differences, "counties": counties,
                               "stats_requests": args.stats_requests}, indent=2, default=str))
    print(f"\n{'every target met' if all(verdicts) else 'TARGETS MISSED'}; written to {out.relative_to(ROOT)}")
    if differences or not all(verdicts):
        raise SystemExit(1)
