"""Scheduled jobs: each a plain function of the moment it runs for, returning its counts.

The scheduler process and `flask --app wsgi run-job NAME --now ...` call the same functions
through ``run_recorded``, so every run, by either, lands in job_runs.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Callable

import sqlalchemy as sa

from backend import clock
from backend.contracts import counts
from backend.contracts import service as contracts
from backend.extensions import db
from backend.fulfilment import progress
from backend.notifications import service as notifications
from backend.notifications.models import JobRun

log = logging.getLogger("jiayi.jobs")


def expire_contracts(now: datetime) -> dict[str, int]:
    """Nightly: active contracts whose term ended before today become expired, how far each one
    in force is behind is taken for the day (the teams' work lists read it), and each team's
    contracted residents (the team card's count)."""
    today = clock.to_civil(now).date()
    return {"expired": contracts.expire_ended(today), "behind_counted": progress.count_behind_for(today),
            "teams_counted": counts.count_teams_for(today)}


def refresh_statistics(now: datetime) -> dict[str, int]:
    """Every few minutes: the statistics' reporting tables, for what changed (backend/stats/rollup.py)."""
    from backend.stats import rollup

    return rollup.refresh(now)


JOBS: dict[str, Callable[[datetime], dict[str, int]]] = {
    "plan-follow-up-reminders": notifications.plan_follow_up_reminders,
    "plan-renewal-reminders": notifications.plan_renewal_reminders,
    "dispatch-notifications": notifications.dispatch,
    "expire-contracts": expire_contracts,
    "refresh-statistics": refresh_statistics,
}

# The daily jobs and the civil time from which each is due; each runs once a day, and a day's
# run that failed is tried again the same day (scheduled/runner.py).
DAILY: tuple[tuple[str, time], ...] = (
    ("expire-contracts", time(0, 10)),
    ("plan-follow-up-reminders", time(7, 30)),
    ("plan-renewal-reminders", time(7, 35)),
)
# A daily job that has not succeeded this long after its time makes the scheduler "degraded"
# (planning at 07:30: by 09:00).
DAILY_GRACE = timedelta(minutes=90)
# In the sending hours, no successful dispatch for this long makes the scheduler "degraded".
DISPATCH_GRACE = timedelta(minutes=10)
# Runs of the scheduler process are recorded under this prefix (the CLI's as "cli").
SCHEDULER_RUNNER = "scheduler:"


class RunNotRecorded(Exception):
    """The database could not take the record of a run (it is away)."""


def run_recorded(name: str, now: datetime, runner: str, attempt: int = 1) -> JobRun:
    """Run one job for ``now`` and record it; a failure is recorded (by type) and re-raised.
    When the database is away and the record cannot be written, ``RunNotRecorded`` is raised
    instead, and the caller (the scheduler) keeps the failure until it can write it."""
    try:
        run = JobRun(job=name, run_for=now, started_at=clock.utcnow(), runner=runner[:80], status="running",
                     counts={}, attempt=attempt)
        db.session.add(run)
        db.session.commit()
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        raise RunNotRecorded(type(error).__name__) from error
    run_id = run.id
    try:
        counts = JOBS[name](now)
    except Exception as error:
        db.session.rollback()
        log.error("job %s failed: %s", name, type(error).__name__, exc_info=error)
        try:
            run = db.session.get(JobRun, run_id)
            run.status, run.error, run.finished_at = "failed", type(error).__name__, clock.utcnow()
            db.session.commit()
        except sa.exc.SQLAlchemyError as unrecorded:
            db.session.rollback()
            raise RunNotRecorded(type(error).__name__) from unrecorded
        raise
    run = db.session.get(JobRun, run_id)
    run.status, run.counts, run.finished_at = "succeeded", counts, clock.utcnow()
    db.session.commit()
    return run


def record_unwritten_failure(name: str, run_for: datetime, failed_at: datetime, runner: str, attempt: int,
                             error: str) -> None:
    """A try that failed while the database was away, written once it is back."""
    db.session.add(JobRun(job=name, run_for=run_for, started_at=failed_at, finished_at=failed_at, status="failed",
                          counts={}, error=error[:100], runner=runner[:80], attempt=attempt))
    db.session.commit()


def abandon_running(found_at: datetime, runner_prefix: str, jobs: tuple[str, ...] | None = None,
                    runner: str | None = None, started_before: datetime | None = None) -> int:
    """Mark ``running`` runs whose process is gone as abandoned, with when that was found: runs
    of schedulers (``runner_prefix``), optionally only ``jobs``, one ``runner``, or those started
    before a moment."""
    statement = sa.update(JobRun).where(JobRun.status == "running", JobRun.runner.startswith(runner_prefix))
    if jobs is not None:
        statement = statement.where(JobRun.job.in_(jobs))
    if runner is not None:
        statement = statement.where(JobRun.runner == runner)
    if started_before is not None:
        statement = statement.where(JobRun.started_at < started_before)
    abandoned = db.session.execute(statement.values(status="abandoned", abandoned_at=found_at,
                                                    error="abandoned: its process stopped")).rowcount
    db.session.commit()
    if abandoned:
        log.warning("%d job run(s) left running by a stopped process marked abandoned", abandoned)
    return abandoned


def runs_of_day(name: str, day: date) -> list[JobRun]:
    """The runs of ``name`` for the civil day ``day``, oldest first."""
    start = datetime.combine(day, time(0, 0), tzinfo=clock.CIVIL_TZ)
    return list(db.session.scalars(
        sa.select(JobRun).where(JobRun.job == name, JobRun.run_for >= start,
                                JobRun.run_for < start + timedelta(days=1))
        .order_by(JobRun.started_at, JobRun.id)
    ))


def health(now: datetime) -> dict:
    """How the scheduler stands at ``now``: each daily job's state today, and "degraded" when one
    has not succeeded by its time plus ``DAILY_GRACE`` (the day's reminders are not planned by
    09:00), or when nothing has dispatched for ``DISPATCH_GRACE`` in the sending hours."""
    local = clock.to_civil(now)
    jobs, problems = [], []
    for name, at in DAILY:
        runs = runs_of_day(name, local.date())
        succeeded = [r for r in runs if r.status == "succeeded"]
        if succeeded:
            state = "succeeded"
        elif local.time() < at:
            state = "not_yet"
        else:
            state = runs[-1].status if runs else "missing"
            if local >= datetime.combine(local.date(), at, tzinfo=clock.CIVIL_TZ) + DAILY_GRACE:
                problems.append(name)
        jobs.append({"job": name, "due_at": at.strftime("%H:%M"), "today": state, "attempts": len(runs),
                     "succeeded_at": succeeded[0].finished_at if succeeded else None})
    last_dispatch = db.session.scalar(sa.select(sa.func.max(JobRun.finished_at)).where(
        JobRun.job == "dispatch-notifications", JobRun.status == "succeeded"))
    sending_since = datetime.combine(local.date(), notifications.QUIET_UNTIL, tzinfo=clock.CIVIL_TZ)
    if (not notifications.in_quiet_hours(now) and now >= sending_since + DISPATCH_GRACE
            and (last_dispatch is None or last_dispatch < now - DISPATCH_GRACE)):
        problems.append("dispatch-notifications")
    return {"status": "degraded" if problems else "ok", "checked_at": now, "late": problems, "jobs": jobs,
            "last_dispatch_at": last_dispatch}
