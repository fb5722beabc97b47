"""The scheduler and the outbox under failure: a dispatcher killed mid-way, two schedulers
at once, and leadership passing from one scheduler to another."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.notifications.models import JobRun, Notification
from scheduled import runner
from scheduled.jobs import run_recorded
from scheduled.leader import AdvisoryLeadership, LeaseLeadership
from tests.conftest import DATABASE_URL, ENV
from tests.factories import add_patients, no_scheduler_leads

ROOT = Path(__file__).resolve().parent.parent
SEND = "cgi-bin/message/subscribe/send"
FOLLOW_UP_TEMPLATE = "demo-follow-up-template"
on_postgresql = pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                                   reason="advisory locks and SKIP LOCKED are PostgreSQL's")


def run(job: str, moment: str) -> dict:
    with clock.frozen_at(clock.parse_moment(moment)):
        return run_recorded(job, clock.now(), "test").counts


@pytest.fixture
def patients(client, county):
    """Four hypertension patients, each with an account holding a credit, due on 2026-06-10."""
    return add_patients(4, 400, FOLLOW_UP_TEMPLATE, 1, date(2026, 5, 27), date(2026, 6, 10))


def wait_for(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_a_dispatcher_killed_halfway_neither_duplicates_nor_loses(wechat, patients):
    assert run("plan-follow-up-reminders", "2026-06-10T07:30:00+08:00")["planned"] == 4
    wechat.delay(SEND, 1.0)  # every send takes a second: time to kill the dispatcher mid-way
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "run-job", "dispatch-notifications",
         "--now", "2026-06-10T08:00:00+08:00"],
        cwd=ROOT, env={**os.environ, **ENV, "JIAYI_WECHAT_TIMEOUT_SECONDS": "10"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(wechat.requests_to(SEND)) >= 3)  # two answered, the third under way
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    wechat.delay(SEND, 0)
    wait_for(lambda: len(wechat.sent) >= 3)  # WeChat finishes the message the dead dispatcher sent

    db.session.expire_all()
    statuses = sorted(db.session.scalars(sa.select(Notification.status).where(Notification.status != "skipped")))
    assert statuses == ["claimed", "sending", "sent", "sent"]

    counts = run("dispatch-notifications", "2026-06-10T08:10:00+08:00")  # the claims have lapsed
    assert (counts["requeued"], counts["interrupted"], counts["sent"]) == (1, 1, 1)
    openids = [m["touser"] for m in wechat.sent]
    assert sorted(openids) == [f"o-patient-{n}" for n in range(4)]  # each exactly once
    by_status = dict(db.session.execute(sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all())
    assert by_status == {"sent": 3, "failed": 1, "skipped": 4}  # planned on the due day: 3 days before was missed
    (unknown,) = db.session.scalars(sa.select(Notification).where(Notification.status == "failed"))
    assert unknown.last_error == "interrupted: delivery unknown"  # on the call list, not sent twice
    assert run("dispatch-notifications", "2026-06-10T08:20:00+08:00") == {}
    assert len(wechat.sent) == 4


def test_lease_leadership_passes_when_the_leader_stops_renewing(app):
    first, second = LeaseLeadership(db.engine, "first", lease_seconds=30), LeaseLeadership(db.engine, "second", 30)
    with clock.frozen_at(clock.parse_moment("2026-06-10T08:00:00+08:00")):
        assert first.try_acquire() is True
        assert second.try_acquire() is False
    with clock.frozen_at(clock.parse_moment("2026-06-10T08:00:20+08:00")):
        assert first.still_leader() is True  # renewed until 08:00:50
        assert second.try_acquire() is False
    with clock.frozen_at(clock.parse_moment("2026-06-10T08:01:00+08:00")):
        assert second.try_acquire() is True  # the first went silent: its lease ran out
        assert first.still_leader() is False
    second.release()
    with clock.frozen_at(clock.parse_moment("2026-06-10T08:01:01+08:00")):
        assert first.try_acquire() is True


@on_postgresql
def test_advisory_lock_leadership_passes_when_the_leader_dies(app):
    engine = sa.create_engine(DATABASE_URL, poolclass=sa.pool.NullPool)
    first, second = AdvisoryLeadership(engine, "first"), AdvisoryLeadership(engine, "second")
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        first._connection.invalidate()  # the process died: its connection is gone
        first._connection = None
        assert second.try_acquire() is True
        assert second.still_leader() is True
    finally:
        second.release()
        engine.dispose()


def _scheduler_thread(app, holder: str, stop: threading.Event) -> threading.Thread:
    schedule = [("dispatch-notifications", {"trigger": "interval", "seconds": 1})]
    thread = threading.Thread(target=runner.run, args=(app, stop), daemon=True,
                              kwargs={"poll_seconds": 0.2, "schedule": schedule, "holder": holder})
    thread.start()
    return thread


def test_two_schedulers_one_leader_then_the_other_takes_over(app):
    stops = {name: threading.Event() for name in ("one", "two")}
    threads = {"one": _scheduler_thread(app, "one", stops["one"])}
    wait_for(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) >= 1)
    threads["two"] = _scheduler_thread(app, "two", stops["two"])

    def runners() -> set[str]:
        db.session.expire_all()
        return set(db.session.scalars(sa.select(JobRun.runner)))

    wait_for(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) >= 3)
    assert runners() == {"one"}
    stops["one"].set()
    threads["one"].join(timeout=30)
    wait_for(lambda: "two" in runners())
    stops["two"].set()
    threads["two"].join(timeout=30)
    db.session.expire_all()
    statuses = set(db.session.scalars(sa.select(JobRun.status)))
    assert statuses == {"succeeded"}


@on_postgresql
def test_two_schedulers_planning_and_dispatching_at_once_send_each_reminder_once(app, wechat, patients):
    errors = []

    def scheduler():
        try:
            with app.app_context():
                run_recorded("plan-follow-up-reminders", clock.now(), "test")
                run_recorded("dispatch-notifications", clock.now(), "test")
        except Exception as error:  # surfaced below
            errors.append(error)

    # The frozen clock is the process's: one moment for every thread. (Each thread freezing its
    # own moment and restoring the previous one on leaving could set another thread's clock back
    # into the night, or to the real day, in the middle of its run.)
    with clock.frozen_at(clock.parse_moment("2026-06-10T08:00:00+08:00")):
        threads = [threading.Thread(target=scheduler) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    db.session.expire_all()
    by_status = dict(db.session.execute(sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all())
    assert by_status == {"sent": 4, "skipped": 4}  # one row per step, however many planners raced
    assert sorted(m["touser"] for m in wechat.sent) == [f"o-patient-{n}" for n in range(4)]


def test_the_scheduler_command_starts_and_stops_cleanly(app):
    no_scheduler_leads()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--poll-seconds", "0.2"],
                               cwd=ROOT, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    banner = process.stderr.readline()  # printed once the process answers SIGTERM: however slow its start
    assert "daily-jobs" in banner and "dispatch-notifications" in banner
    wait_for(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) >= 1)  # it leads and runs
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(
        sa.table("scheduler_leases"))) == 0  # the lease (or lock) was given back


def test_a_stale_claim_goes_back_to_the_queue(app, wechat, patients):
    run("plan-follow-up-reminders", "2026-06-10T07:30:00+08:00")
    db.session.execute(sa.update(Notification).where(Notification.status == "pending").values(
                                                      status="claimed", claim_token="dead",
                                                      claimed_until=clock.parse_moment("2026-06-10T08:05:00+08:00")))
    db.session.commit()
    assert run("dispatch-notifications", "2026-06-10T08:01:00+08:00") == {}  # still claimed by someone
    counts = run("dispatch-notifications", "2026-06-10T08:06:00+08:00")
    assert (counts["requeued"], counts["sent"]) == (4, 4)
