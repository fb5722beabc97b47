"""The scheduler process: `flask --app wsgi scheduler`.

It waits until it is the leader, then runs the jobs on their schedule in Asia/Shanghai. The
jobs are declared once, with fixed ids (replace_existing), so a restart reconciles them.
A job also checks leadership before it runs, so a scheduler that lost it does nothing.
"""
from __future__ import annotations

import logging
import os
import socket
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from backend import clock
from backend.extensions import db
from scheduled.jobs import run_recorded
from scheduled.leader import leadership_for

log = logging.getLogger("jiayi.scheduler")

SCHEDULE = [
    ("expire-contracts", {"trigger": "cron", "hour": 0, "minute": 10}),
    ("plan-follow-up-reminders", {"trigger": "cron", "hour": 7, "minute": 30}),
    ("plan-renewal-reminders", {"trigger": "cron", "hour": 7, "minute": 35}),
    ("dispatch-notifications", {"trigger": "interval", "minutes": 1}),
]
# Idempotent jobs that also run when a scheduler takes the lead, so a restart or a
# hand-over after 07:30 does not skip a day.
CATCH_UP = {"expire-contracts", "plan-follow-up-reminders", "plan-renewal-reminders"}


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _job(app: Flask, name: str, leadership, holder: str) -> None:
    with app.app_context():
        if not leadership.still_leader():
            log.warning("not the leader any more: %s skipped", name)
            return
        try:
            run_recorded(name, clock.now(), holder)
        except Exception:  # recorded in job_runs; the scheduler keeps going
            log.error("job %s failed; see job_runs", name)


def run(app: Flask, stop: threading.Event, poll_seconds: float = 5.0, schedule=SCHEDULE,
        holder: str | None = None) -> None:
    holder = holder or holder_name()
    with app.app_context():
        leadership = leadership_for(db.engine, holder)
    while not stop.is_set():
        with app.app_context():
            leader = leadership.try_acquire()
        if not leader:
            stop.wait(poll_seconds)
            continue
        log.info("%s leads the scheduler", holder)
        scheduler = BackgroundScheduler(timezone=clock.CIVIL_TZ)
        for name, trigger in schedule:
            first = {"next_run_time": clock.now()} if name in CATCH_UP else {}
            scheduler.add_job(_job, args=(app, name, leadership, holder), id=name, name=name,
                              replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=300,
                              **first, **trigger)
        scheduler.start()
        while not stop.wait(poll_seconds):
            with app.app_context():
                if not leadership.still_leader():
                    log.warning("%s lost the lead", holder)
                    break
        scheduler.shutdown(wait=True)
        with app.app_context():
            leadership.release()
