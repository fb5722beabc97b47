"""The scheduler process: `flask --app wsgi scheduler`.

It waits until it is the leader, then runs the jobs in Asia/Shanghai. The jobs are declared
once, with fixed ids (replace_existing), so a restart reconciles them. A job also checks
leadership before it runs, so a scheduler that lost it does nothing.

The daily jobs are not fired by a timer that fires once and forgets: a tick looks every half
minute at what has run today, in job_runs, and runs a daily job whose time has come and that
has not succeeded today. So a scheduler started late, a run that failed (the database was
restarting, a bug) and a hand-over after a crash are all made up the same day, with backoff
between tries, and whatever scheduler leads next knows what is left to do.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from backend import clock
from backend.extensions import db
from scheduled.jobs import (DAILY, SCHEDULER_RUNNER, RunNotRecorded, abandon_running, record_unwritten_failure,
                            run_recorded, runs_of_day)
from scheduled.leader import leadership_for

log = logging.getLogger("jiayi.scheduler")

DAILY_JOBS = "daily-jobs"
SCHEDULE = [
    (DAILY_JOBS, {"trigger": "interval", "seconds": 30}),
    ("dispatch-notifications", {"trigger": "interval", "minutes": 1}),
    ("refresh-statistics", {"trigger": "interval", "minutes": 10}),
]
# Waits after a day's 1st, 2nd, ... failure of a daily job; every 15 minutes after that.
RETRY_MINUTES = (1, 2, 4, 8, 15)
# With the database away a try costs nothing but a refused connection: no longer apart than this.
DATABASE_RETRY_CAP = timedelta(minutes=2)
DATABASE_AWAY = {"OperationalError", "InterfaceError", "DisconnectionError"}
# A run by another process (the CLI) still "running" after this long is taken as dead.
STALE_AFTER = timedelta(hours=1)


def holder_name() -> str:
    return f"{SCHEDULER_RUNNER}{socket.gethostname()}:{os.getpid()}"


def retry_wait(failures: int) -> timedelta:
    return timedelta(minutes=RETRY_MINUTES[min(failures, len(RETRY_MINUTES)) - 1])


@dataclass
class _Unwritten:
    job: str
    day: date
    failed_at: datetime
    error: str


class DailyJobs:
    """Each daily job once a day, from its time on, until it succeeds. What has run is read from
    job_runs; a failure the database could not take (it was away) is kept here until it can."""

    def __init__(self, holder: str, daily: tuple[tuple[str, time], ...] = DAILY):
        self.holder, self.daily = holder, daily
        self._unwritten: list[_Unwritten] = []
        self._done: dict[str, date] = {}  # the last day each job is known to have succeeded

    def tick(self, now: datetime) -> dict[str, str]:
        """Run what is due at ``now``; returns each job that was tried and how it went."""
        local = clock.to_civil(now)
        tried = {}
        for name, at in self.daily:
            if local.time() < at or self._done.get(name) == local.date():
                continue
            try:
                self._write_unwritten()
                attempt = self._due(name, local.date(), now)
            except SQLAlchemyError as error:
                db.session.rollback()
                if self._keep_unwritten(name, now, type(error).__name__):
                    tried[name] = "database_unavailable"
                continue
            if attempt is None:
                continue
            try:
                run_recorded(name, now, self.holder, attempt)
                tried[name] = "succeeded"
                self._done[name] = local.date()
            except RunNotRecorded as error:
                self._keep_unwritten(name, now, str(error))
                tried[name] = "database_unavailable"
            except Exception:  # recorded in job_runs; tried again after the backoff
                tried[name] = "failed"
        return tried

    def _due(self, name: str, day: date, now: datetime) -> int | None:
        """The attempt number to run ``name`` with now, or None: done today, under way
        elsewhere, or waiting out the backoff after a failure."""
        runs = runs_of_day(name, day)
        if any(r.status == "succeeded" for r in runs):
            self._done[name] = day
            return None
        running = [r for r in runs if r.status == "running"]
        # Ticks run one at a time, so a run of this scheduler still "running" is a tick's that
        # lost its database mid-way; another process's is dead once it is this old.
        if any(r.runner == self.holder or r.started_at < now - STALE_AFTER for r in running):
            found = clock.utcnow()
            abandon_running(found, "", jobs=(name,), runner=self.holder)
            abandon_running(found, "", jobs=(name,), started_before=now - STALE_AFTER)
            runs = runs_of_day(name, day)
        if any(r.status == "running" for r in runs):
            return None
        failures = [r for r in runs if r.status in ("failed", "abandoned")]
        if failures:
            last = failures[-1]
            # A run found abandoned died with its process, not of the job: retry from its start.
            failed_at = last.started_at if last.status == "abandoned" else (last.finished_at or last.started_at)
            wait = retry_wait(len(failures))
            if last.error in DATABASE_AWAY:
                wait = min(wait, DATABASE_RETRY_CAP)
            if now < failed_at + wait:
                return None
        return len(failures) + 1

    def _keep_unwritten(self, name: str, now: datetime, error: str) -> bool:
        """Keep a try that failed with the database away; False while backing off."""
        day = clock.to_civil(now).date()
        earlier = [u for u in self._unwritten if u.job == name and u.day == day]
        if earlier and now < earlier[-1].failed_at + min(retry_wait(len(earlier)), DATABASE_RETRY_CAP):
            return False
        self._unwritten.append(_Unwritten(name, day, now, error))
        log.error("job %s could not run: the database is unavailable (%s); trying again", name, error)
        return True

    def _write_unwritten(self) -> None:
        while self._unwritten:
            u = self._unwritten[0]
            attempt = len(runs_of_day(u.job, u.day)) + 1
            run_for = datetime.combine(u.day, dict(self.daily)[u.job], tzinfo=clock.CIVIL_TZ)
            record_unwritten_failure(u.job, max(run_for, clock.to_civil(u.failed_at)), u.failed_at, self.holder,
                                     attempt, u.error)
            self._unwritten.pop(0)


def _safely(app: Flask, action, default=False):
    """A leadership call that a database away answers with ``default`` instead of an error."""
    with app.app_context():
        try:
            return action()
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("scheduler: the database is unavailable (%s)", type(error).__name__)
            return default


def _job(app: Flask, name: str, leadership, holder: str) -> None:
    if not _safely(app, leadership.still_leader):
        log.warning("not the leader any more: %s skipped", name)
        return
    with app.app_context():
        try:
            run_recorded(name, clock.now(), holder)
        except Exception:  # recorded in job_runs (or the database is away); the scheduler keeps going
            log.error("job %s failed; see job_runs", name)


def _tick(app: Flask, daily_jobs: DailyJobs, leadership) -> None:
    if not _safely(app, leadership.still_leader):
        return
    with app.app_context():
        daily_jobs.tick(clock.now())


def _take_over(app: Flask, holder: str) -> None:
    """On taking the lead: no scheduler runs a job now, so every scheduler run still marked
    running died with its process."""
    _safely(app, lambda: abandon_running(clock.utcnow(), SCHEDULER_RUNNER))


def run(app: Flask, stop: threading.Event, poll_seconds: float = 5.0, schedule=SCHEDULE,
        holder: str | None = None, daily: tuple[tuple[str, time], ...] = DAILY) -> None:
    holder = holder or holder_name()
    with app.app_context():
        leadership = leadership_for(db.engine, holder)
    while not stop.is_set():
        if not _safely(app, leadership.try_acquire):
            stop.wait(poll_seconds)
            continue
        log.info("%s leads the scheduler", holder)
        _take_over(app, holder)
        daily_jobs = DailyJobs(holder, daily)
        scheduler = BackgroundScheduler(timezone=clock.CIVIL_TZ)
        for name, trigger in schedule:
            if name == DAILY_JOBS:  # the first tick at once: a day's missed work starts now
                target, args, first = _tick, (app, daily_jobs, leadership), {"next_run_time": clock.machine_now()}
            else:
                target, args, first = _job, (app, name, leadership, holder), {}
            scheduler.add_job(target, args=args, id=name, name=name, replace_existing=True, coalesce=True,
                              max_instances=1, misfire_grace_time=300, **first, **trigger)
        scheduler.start()
        while not stop.wait(poll_seconds):
            if not _safely(app, leadership.still_leader):
                log.warning("%s lost the lead", holder)
                break
        scheduler.shutdown(wait=True)
        _safely(app, leadership.release, None)
