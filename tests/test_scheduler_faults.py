"""No reminder lost to a missed day: catch-up planning, retries of failed daily jobs, runs left
by a dead process, and the scheduler's health. The scheduler's own code (its daily tick, the
scheduler process, `run-job`) runs with a fixed clock; WeChat is the fake server on loopback."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.followups.models import Condition
from backend.notifications.models import JobRun, Notification
from scheduled import jobs as scheduled_jobs
from scheduled import runner
from scheduled.jobs import run_recorded
from tests.conftest import DATABASE_URL, ENV
from tests.factories import (VILLAGE_A1, add_patients, add_resident, bind_account, id_number_for,
                             no_scheduler_leads)
from tests.test_scheduler import ROOT, wait_for

FOLLOW_UP_TEMPLATE = "demo-follow-up-template"
RENEWAL_TEMPLATE = "demo-renewal-template"
on_postgresql = pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                                   reason="holds a table lock that only PostgreSQL has")


def at(moment: str) -> datetime:
    return clock.parse_moment(moment)


def tick(daily: runner.DailyJobs, moment: str) -> dict:
    with clock.frozen_at(at(moment)):
        return daily.tick(clock.now())


def run(job: str, moment: str) -> dict:
    with clock.frozen_at(at(moment)):
        return run_recorded(job, clock.now(), "test").counts


def hints(wechat) -> list[str]:
    return [m["data"]["thing4"]["value"] for m in wechat.sent]


def rows(status: str | None = None) -> list[Notification]:
    db.session.expire_all()
    statement = sa.select(Notification).order_by(Notification.send_after, Notification.step)
    if status:
        statement = statement.where(Notification.status == status)
    return list(db.session.scalars(statement))


def job_runs(job: str = "plan-follow-up-reminders") -> list[JobRun]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(JobRun).where(JobRun.job == job)
                                   .order_by(JobRun.started_at, JobRun.attempt)))


@pytest.fixture
def patients(client, county):
    """Four hypertension patients, each bound to an account with three follow-up credits, due on 2026-06-10."""
    return add_patients(4, 500, FOLLOW_UP_TEMPLATE, 3, date(2026, 5, 27), date(2026, 6, 10))


def cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# Catch-up planning

def test_a_missed_three_days_before_step_is_sent_the_next_morning_through_run_job(wechat, patients):
    # The scheduler was down on 7 June, the "3 days before" day.
    planned = cli("run-job", "plan-follow-up-reminders", "--now", "2026-06-08T07:30:00+08:00")["counts"]
    assert planned == {"due": 4, "planned": 4}
    assert cli("run-job", "plan-follow-up-reminders", "--now", "2026-06-08T07:45:00+08:00")["counts"]["planned"] == 0
    assert cli("run-job", "dispatch-notifications", "--now", "2026-06-08T08:00:00+08:00")["counts"]["sent"] == 4
    assert sorted(m["touser"] for m in wechat.sent) == [f"o-patient-{n}" for n in range(4)]  # one message each
    assert set(hints(wechat)) == {"距随访日还有2天，请按时到卫生院随访"}  # worded for the day it arrives
    # The following days go on as usual: nothing between the steps, the due day on its day.
    assert run("plan-follow-up-reminders", "2026-06-09T07:30:00+08:00")["planned"] == 0
    assert run("plan-follow-up-reminders", "2026-06-10T07:30:00+08:00")["planned"] == 4


def test_three_days_down_across_the_due_date_send_one_overdue_message(wechat, patients):
    daily = runner.DailyJobs("scheduler:test")
    # Down from 7 to 10 June: the "3 days before" and the due-day steps were both missed.
    assert tick(daily, "2026-06-11T07:30:00+08:00") == {
        "expire-contracts": "succeeded", "plan-follow-up-reminders": "succeeded"}
    assert [n.step for n in rows("pending")] == ["due_day"] * 4
    skipped = rows("skipped")
    assert [n.step for n in skipped] == ["before_3d"] * 4 and all(n.data == {} for n in skipped)
    assert all(n.last_error == "caught up: a later step was due" for n in skipped)
    assert run("dispatch-notifications", "2026-06-11T08:00:00+08:00")["sent"] == 4
    assert set(hints(wechat)) == {"随访已逾期1天，请尽快联系家庭医生"}
    assert len(wechat.sent) == 4
    # The next mornings send nothing more until the 7-days-after step.
    for day in range(12, 17):
        assert run("plan-follow-up-reminders", f"2026-06-{day}T07:30:00+08:00")["planned"] == 0
    assert run("plan-follow-up-reminders", "2026-06-17T07:30:00+08:00")["planned"] == 4
    run("dispatch-notifications", "2026-06-17T08:00:00+08:00")
    assert hints(wechat)[-1] == "随访已逾期7天，请尽快联系家庭医生" and len(wechat.sent) == 8
    # The skipped steps are on no call list: they are recorded, not failed.
    assert not any(n.status in ("failed", "no_credit", "refused") for n in rows())


def test_steps_older_than_the_catch_up_window_are_not_sent(patients):
    # Down for three weeks: the due date is 11 days past, its 7-days-after step 4 days past.
    assert run("plan-follow-up-reminders", "2026-06-21T07:30:00+08:00") == {"due": 4, "planned": 4, "skipped": 8}
    assert {n.step for n in rows("pending")} == {"overdue_7d"}
    # Past the window nothing is planned: a step 8 days late is no reminder any more.
    for condition in db.session.scalars(sa.select(Condition)):
        condition.next_due_on = date(2026, 5, 1)
    db.session.commit()
    assert run("plan-follow-up-reminders", "2026-06-21T07:31:00+08:00") == {"due": 0, "planned": 0}


def test_a_back_dated_registration_gets_its_overdue_step_at_once(client, wechat, county):
    clock.freeze(at("2026-06-10T10:00:00+08:00"))
    resident = add_resident("王桂兰", id_number_for(date(1952, 3, 3), 611), "13900006111", VILLAGE_A1)
    bind_account(client, wechat, resident, "13900006111", "o-wang", FOLLOW_UP_TEMPLATE)
    doctor = county.headers(client, "doctor_a")
    # Taken over from paper: registered 16 days ago, so the first visit was due 2 days ago.
    created = client.post(f"/api/v1/residents/{resident.id}/conditions", headers=doctor, json={
        "disease": "hypertension", "diagnosed_on": "2026-01-05", "registered_on": "2026-05-25"})
    assert created.status_code == 201 and created.get_json()["next_due_on"] == "2026-06-08"
    (pending,) = rows("pending")
    assert (pending.step, pending.data["thing4"]["value"]) == ("due_day", "随访已逾期2天，请尽快联系家庭医生")
    assert [n.step for n in rows("skipped")] == ["before_3d"]
    assert run("dispatch-notifications", "2026-06-10T10:01:00+08:00")["sent"] == 1
    assert run("plan-follow-up-reminders", "2026-06-11T07:30:00+08:00")["planned"] == 0  # nothing twice


def test_a_back_dated_visit_whose_next_step_has_come_is_planned_at_once(client, wechat, county):
    clock.freeze(at("2026-06-10T10:00:00+08:00"))
    resident = add_resident("赵德明", id_number_for(date(1956, 4, 4), 622), "13900006222", VILLAGE_A1)
    doctor = county.headers(client, "doctor_a")
    client.post(f"/api/v1/residents/{resident.id}/conditions", headers=doctor, json={
        "disease": "hypertension", "diagnosed_on": "2026-01-05", "registered_on": "2026-03-01"})
    db.session.execute(sa.delete(Notification))  # what registration planned is not this test's concern
    db.session.commit()
    # A controlled visit entered 88 days late: the next one is due in 2 days, so "3 days before" was yesterday.
    visit = client.post(f"/api/v1/residents/{resident.id}/follow-ups", headers=doctor, json={
        "disease": "hypertension", "visited_on": "2026-03-14", "method": "home", "sbp": 128, "dbp": 80})
    assert visit.status_code == 201 and visit.get_json()["next_due_on"] == "2026-06-12"
    (pending,) = rows("pending")
    assert (pending.step, pending.due_on, pending.data["thing4"]["value"]) == (
        "before_3d", date(2026, 6, 12), "距随访日还有2天，请按时到卫生院随访")
    # A visit on the day itself plans nothing: its next step is months away.
    today = client.post(f"/api/v1/residents/{resident.id}/follow-ups", headers=doctor, json={
        "disease": "hypertension", "visited_on": "2026-06-10", "method": "clinic", "sbp": 126, "dbp": 78})
    assert today.status_code == 201 and len(rows()) == 1


def test_a_missed_renewal_reminder_is_made_up_and_worded_for_the_days_left(client, wechat, county):
    clock.freeze(at("2025-06-15T10:00:00+08:00"))
    resident = add_resident("孙秀英", id_number_for(date(1948, 5, 5), 633), "13900006333", VILLAGE_A1)
    account = bind_account(client, wechat, resident, "13900006333", "o-sun", RENEWAL_TEMPLATE)
    contract = client.post("/api/v1/contracts", headers=account, json={
        "resident_id": resident.id, "team_id": county.teams["a"].id, "package_codes": ["basic"]}).get_json()
    approved = client.post(f"/api/v1/contracts/{contract['id']}/approve", headers=county.headers(client, "doctor_a"),
                           json={})
    assert approved.get_json()["end_date"] == "2026-06-14"
    clock.freeze(None)
    # The scheduler was down for the 30 days before the end, back with 5 days left.
    assert run("plan-renewal-reminders", "2026-06-09T07:35:00+08:00") == {"due": 1, "planned": 1}
    assert run("plan-renewal-reminders", "2026-06-10T07:35:00+08:00") == {"due": 1, "planned": 0}
    run("dispatch-notifications", "2026-06-09T08:00:00+08:00")
    (message,) = wechat.sent
    assert message["data"]["phrase4"]["value"] == "5天后到期"


# Failed jobs are retried the same day, each try in job_runs

def test_a_failing_daily_job_is_retried_with_backoff_until_it_succeeds(client, county, patients, monkeypatch):
    real = scheduled_jobs.JOBS["plan-follow-up-reminders"]
    failures = iter([RuntimeError("bug"), RuntimeError("bug")])

    def flaky(now):
        error = next(failures, None)
        if error:
            raise error
        return real(now)

    monkeypatch.setitem(scheduled_jobs.JOBS, "plan-follow-up-reminders", flaky)
    daily = runner.DailyJobs("scheduler:test", daily=(("plan-follow-up-reminders", datetime.min.time()
                                                       .replace(hour=7, minute=30)),))
    outcomes = {m: tick(daily, f"2026-06-10T{m}:00+08:00").get("plan-follow-up-reminders")
                for m in ("07:29", "07:30", "07:30:30", "07:31", "07:32", "07:33", "07:34")}
    # Due from 07:30; after the first failure it waits 1 minute, after the second 2 minutes.
    assert outcomes == {"07:29": None, "07:30": "failed", "07:30:30": None, "07:31": "failed", "07:32": None,
                        "07:33": "succeeded", "07:34": None}
    assert [(r.status, r.attempt, r.error) for r in job_runs()] == [
        ("failed", 1, "RuntimeError"), ("failed", 2, "RuntimeError"), ("succeeded", 3, None)]
    assert len(rows("pending")) == 4

    admin = county.headers(client, "county_admin")
    failed = client.get("/api/v1/admin/job-runs?status=failed", headers=admin).get_json()
    assert [(i["status"], i["attempt"]) for i in failed["items"]] == [("failed", 2), ("failed", 1)]
    bad = client.get("/api/v1/admin/job-runs?status=lost", headers=admin)
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]


@contextlib.contextmanager
def database_refusing_connections():
    """The database refuses new connections (a restart under way), and the open ones are gone."""
    def refuse(dialect, connection_record, cargs, cparams):
        raise dialect.loaded_dbapi.OperationalError("connection refused")

    db.session.remove()
    engines = list(db.engines.values())
    for engine in engines:
        sa.event.listen(engine, "do_connect", refuse)
        engine.dispose()
    try:
        yield
    finally:
        for engine in engines:
            sa.event.remove(engine, "do_connect", refuse)


def test_a_database_away_at_0730_plans_the_days_reminders_by_0745_and_sends_after_eight(wechat, patients):
    daily = runner.DailyJobs("scheduler:test")
    tick(daily, "2026-06-10T07:00:00+08:00")  # expire-contracts ran at 00:10 as usual
    tried = {}
    with database_refusing_connections():
        for minute in range(30, 40):  # the scheduler ticks every half minute
            for second in ("00", "30"):
                moment = f"2026-06-10T07:{minute}:{second}+08:00"
                tried[moment] = tick(daily, moment).get("plan-follow-up-reminders")
    assert tried["2026-06-10T07:30:00+08:00"] == "database_unavailable"
    # Tried again after 1 minute, then every 2 minutes while the database is away, not every tick.
    assert [m[11:16] for m, outcome in tried.items() if outcome] == ["07:30", "07:31", "07:33", "07:35", "07:37",
                                                                     "07:39"]
    # Back at 07:40, within the 2 minutes since the last try (renewals, due from 07:35, have their own).
    assert tick(daily, "2026-06-10T07:40:00+08:00").get("plan-follow-up-reminders") is None
    assert tick(daily, "2026-06-10T07:41:00+08:00")["plan-follow-up-reminders"] == "succeeded"
    assert tick(daily, "2026-06-10T07:45:00+08:00") == {}
    runs = job_runs()
    # The failures the database could not take at the time are written once it is back.
    assert [(r.status, r.attempt) for r in runs] == [("failed", n) for n in range(1, 7)] + [("succeeded", 7)]
    assert runs[0].error == "OperationalError"
    assert {r.status for r in job_runs("expire-contracts")} == {"succeeded"}  # done at 07:00: never retried
    assert clock.to_civil(runs[-1].run_for) <= at("2026-06-10T07:45:00+08:00")
    assert len(rows("pending")) == 4
    assert run("dispatch-notifications", "2026-06-10T07:59:00+08:00").get("sent") is None  # not before eight
    assert run("dispatch-notifications", "2026-06-10T08:00:00+08:00")["sent"] == 4
    assert len(wechat.sent) == 4


# Runs left by a dead process

def _dead_run(job: str = "plan-follow-up-reminders", moment: str = "2026-06-10T07:30:00+08:00") -> str:
    run_ = JobRun(job=job, run_for=at(moment), started_at=at(moment), runner="scheduler:dead-host:4242",
                  status="running", counts={}, attempt=1)
    db.session.add(run_)
    db.session.commit()
    return run_.id


def _scheduler_process(now: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--poll-seconds", "0.2", "--now", now],
        cwd=ROOT, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def test_the_scheduler_process_marks_a_dead_run_abandoned_and_makes_the_day_up(patients):
    no_scheduler_leads()
    dead = _dead_run()
    process = _scheduler_process("2026-06-10T07:36:00+08:00")
    try:
        wait_for(lambda: any(r.status == "succeeded" for r in job_runs()), seconds=60)
    finally:
        _stop(process)
    runs = job_runs()
    assert [(r.id == dead, r.status, r.attempt) for r in runs] == [(True, "abandoned", 1), (False, "succeeded", 2)]
    assert clock.to_civil(runs[0].abandoned_at) == at("2026-06-10T07:36:00+08:00")
    assert len(rows("pending")) == 4
    assert {r.status for r in job_runs("plan-renewal-reminders")} == {"succeeded"}


@on_postgresql
def test_a_scheduler_killed_mid_planning_and_restarted_plans_each_reminder_once(patients):
    no_scheduler_leads()
    blocker = db.engine.connect()
    blocker.execute(sa.text("LOCK TABLE notifications IN EXCLUSIVE MODE"))  # planning's insert waits here
    first = _scheduler_process("2026-06-10T07:31:00+08:00")
    try:
        wait_for(lambda: any(r.status == "running" for r in job_runs()), seconds=60)
        time.sleep(0.5)  # the planner is inside its transaction, waiting on the insert
    finally:
        first.kill()
        first.wait(timeout=30)
        blocker.rollback()
        blocker.close()
    assert rows() == [] and [r.status for r in job_runs()] == ["running"]

    second = _scheduler_process("2026-06-10T07:33:00+08:00")
    try:
        wait_for(lambda: any(r.status == "succeeded" for r in job_runs()), seconds=60)
    finally:
        _stop(second)
    assert [(r.status, r.attempt) for r in job_runs()] == [("abandoned", 1), ("succeeded", 2)]
    keys = [n.idempotency_key for n in rows()]
    assert len(keys) == len(set(keys)) == 8 and len(rows("pending")) == 4


def test_two_schedulers_racing_after_a_hand_over_plan_and_send_once(app, wechat, patients):
    no_scheduler_leads()
    dead = _dead_run()
    stops = [threading.Event(), threading.Event()]
    schedule = [(runner.DAILY_JOBS, {"trigger": "interval", "seconds": 1}),
                ("dispatch-notifications", {"trigger": "interval", "seconds": 1})]
    with clock.frozen_at(at("2026-06-10T08:05:00+08:00")):  # one moment for every thread
        threads = [threading.Thread(target=runner.run, args=(app, stop), daemon=True,
                                    kwargs={"poll_seconds": 0.2, "schedule": schedule, "holder": f"scheduler:{name}"})
                   for name, stop in zip(("b", "c"), stops)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: len(wechat.sent) >= 4 and any(r.status == "succeeded" for r in job_runs()), seconds=60)
            time.sleep(2)  # room for a second planner or dispatcher to do something wrong
        finally:
            for stop in stops:
                stop.set()
            for thread in threads:
                thread.join(timeout=60)
    runs = job_runs()
    assert [(r.id == dead, r.status) for r in runs] == [(True, "abandoned"), (False, "succeeded")]
    assert len({r.runner for r in job_runs("dispatch-notifications")}) == 1  # only the leader acted
    assert sorted(m["touser"] for m in wechat.sent) == [f"o-patient-{n}" for n in range(4)]
    assert len(rows("sent")) == 4


# The scheduler's health

def test_the_scheduler_is_degraded_when_the_day_is_not_planned_by_nine(client, patients):
    def health(moment: str):
        with clock.frozen_at(at(moment)):
            answer = client.get("/healthz/scheduler")  # for monitors that do not know the API prefix
            assert client.get("/api/v1/healthz/scheduler").get_json() == answer.get_json()
            return answer

    run("expire-contracts", "2026-06-10T00:10:00+08:00")
    run("dispatch-notifications", "2026-06-10T08:55:00+08:00")
    early = health("2026-06-10T08:59:00+08:00")
    assert early.status_code == 200 and early.get_json()["status"] == "ok"
    late = health("2026-06-10T09:00:00+08:00")
    body = late.get_json()
    assert late.status_code == 503 and body["status"] == "degraded" and body["code"] == "scheduler_degraded"
    assert body["late"] == ["plan-follow-up-reminders"]
    assert {j["job"]: j["today"] for j in body["jobs"]}["plan-follow-up-reminders"] == "missing"
    run("plan-follow-up-reminders", "2026-06-10T09:01:00+08:00")
    run("plan-renewal-reminders", "2026-06-10T09:01:00+08:00")
    run("dispatch-notifications", "2026-06-10T09:02:00+08:00")
    well = health("2026-06-10T09:05:00+08:00")
    assert well.status_code == 200 and well.get_json()["late"] == []
    # A dispatcher silent for ten minutes in the sending hours is degraded too.
    stalled = health("2026-06-10T09:13:00+08:00")
    assert stalled.status_code == 503 and stalled.get_json()["late"] == ["dispatch-notifications"]
    # At night nothing is sent, so nothing is expected.
    assert health("2026-06-10T22:00:00+08:00").status_code == 200
