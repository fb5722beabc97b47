"""Scheduled jobs: each a plain function of the moment it runs for, returning its counts.

The scheduler process and `flask --app wsgi run-job NAME --now ...` call the same functions
through ``run_recorded``, so every run, by either, lands in job_runs.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from backend import clock
from backend.contracts import service as contracts
from backend.extensions import db
from backend.notifications import service as notifications
from backend.notifications.models import JobRun

log = logging.getLogger("jiayi.jobs")


def expire_contracts(now: datetime) -> dict[str, int]:
    """Nightly: active contracts whose term ended before today become expired."""
    return {"expired": contracts.expire_ended(clock.to_civil(now).date())}


JOBS: dict[str, Callable[[datetime], dict[str, int]]] = {
    "plan-follow-up-reminders": notifications.plan_follow_up_reminders,
    "plan-renewal-reminders": notifications.plan_renewal_reminders,
    "dispatch-notifications": notifications.dispatch,
    "expire-contracts": expire_contracts,
}


def run_recorded(name: str, now: datetime, runner: str) -> JobRun:
    """Run one job for ``now`` and record it; a failure is recorded (by type) and re-raised."""
    run = JobRun(job=name, run_for=now, started_at=clock.utcnow(), runner=runner[:80], status="running", counts={})
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    try:
        counts = JOBS[name](now)
    except Exception as error:
        db.session.rollback()
        run = db.session.get(JobRun, run_id)
        run.status, run.error, run.finished_at = "failed", type(error).__name__, clock.utcnow()
        db.session.commit()
        log.error("job %s failed: %s", name, type(error).__name__, exc_info=error)
        raise
    run = db.session.get(JobRun, run_id)
    run.status, run.counts, run.finished_at = "succeeded", counts, clock.utcnow()
    db.session.commit()
    return run
