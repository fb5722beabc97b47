"""The demo county: 吉林省 › 白城市 › 洮北区 with its townships, villages, institutions,
family-doctor teams, service packages and population denominators.

Loading is idempotent: every record is found by its natural key (region code,
institution name and region, username, team name, package code) before it is
made, so running the command again changes nothing. The township and village
names are those of the area; their 12-digit codes are illustrative.
"""
from __future__ import annotations

import random

import sqlalchemy as sa
from faker import Faker

from backend import clock
from backend.contracts import counts
from backend.demo.contracts import load_contracts
from backend.demo.directory import load_directory
from backend.demo.exams import load_exams
from backend.demo.followups import load_follow_ups
from backend.demo.fulfilment import load_fulfilment, load_unreached_reminders
from backend.demo.populations import load_populations
from backend.demo.residents import load_residents
from backend.extensions import db
from backend.fulfilment import progress

DEMO_PASSWORD = "jiayi-demo-2025"


def load_demo(seed: int) -> dict:
    """Load everything; returns the staff logins and the mini-program codes worth printing."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    today = clock.today()
    staff = load_directory(rng, fake, DEMO_PASSWORD, today)
    wechat = load_residents(rng, fake, today)
    load_contracts(rng, today)
    # The forms' details draw from a stream of their own: the visits stay those the seed gives.
    load_follow_ups(rng, random.Random(f"forms-{seed}"), today)
    load_exams(random.Random(f"exams-{seed}"), today)
    load_fulfilment(rng, today)
    load_unreached_reminders(random.Random(f"reminders-{seed}"), today)
    load_populations(today)
    db.session.commit()
    # How far each contract is behind today and each team's count, as the nightly job leaves them
    # (the work lists and the team cards read them).
    progress.count_behind_for(today)
    counts.count_teams_for(today)
    _refresh_planner_statistics()
    return {"staff": staff, "wechat": wechat}


def _refresh_planner_statistics() -> None:
    """ANALYZE after the bulk load, as after any bulk load. Until autovacuum gets round to the
    new rows, PostgreSQL plans the statistics queries for empty tables and the console's county
    figures take seconds instead of a tenth of one; SQLite's planner has no statistics at all
    without it."""
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
