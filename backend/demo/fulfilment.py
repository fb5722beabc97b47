"""Fulfilment in the demo county: the items each contract owes (copied once the residents'
conditions are known), the services teams delivered with each township's own diligence, and
calls made from the call lists."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract
from backend.contracts.service import owe_items
from backend.directory.models import ServicePackage
from backend.extensions import db, new_id
from backend.followups.models import Condition
from backend.fulfilment import rules
from backend.fulfilment.models import Call, ServiceDelivery
from backend.residents.groups import groups_of
from backend.residents.models import Resident

METHOD = {"health_education": "group", "home_visit": "home", "postnatal_visit": "home"}
# Outcomes of the calls the teams made from their call lists, and how often.
OUTCOMES = [("no_answer", 0.35), ("reached_will_visit", 0.35), ("reached_declined", 0.12), ("wrong_number", 0.1),
            ("moved_away", 0.05), ("died", 0.03)]


def _moment(day: date, rng: random.Random) -> datetime:
    # Never later than now: a record is not written in the future (the statistics' refresh reads
    # updated_at to find what changed since it last ran).
    moment = datetime.combine(day, time(rng.randint(9, 16), rng.randint(0, 59)), tzinfo=clock.CIVIL_TZ)
    return min(moment, clock.now())


def load_fulfilment(rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(ServiceDelivery)):
        return  # loaded before
    packages = {p.code: p for p in db.session.scalars(sa.select(ServicePackage))}
    contracts = list(db.session.scalars(sa.select(Contract).order_by(Contract.created_at, Contract.id)))
    residents = {r.id: r for r in db.session.scalars(sa.select(Resident))}
    groups = groups_of(list(residents.values()), today)
    diligence: dict[str, float] = {}
    for contract in contracts:
        resident = residents[contract.resident_id]
        owe_items(contract, [packages[code] for code in contract.package_codes], resident, today,
                  set(groups[resident.id]))
        if contract.start_date is None or contract.status not in ("active", "expired"):
            continue
        township = (resident.region_code or "")[:9]
        chance = diligence.setdefault(township, rng.uniform(0.55, 0.95))
        end = min(today, contract.end_date)
        for item in contract.items:
            if item.follow_up_disease or item.health_check:
                continue  # the follow-ups and the health checks count themselves
            # The year's pace, a visit more or less at random, one fewer where the team lags.
            exact = item.owed * rules.days_passed(contract.start_date, contract.end_date, end) \
                / rules.term_days(contract.start_date, contract.end_date)
            given = int(exact) + (1 if rng.random() < exact - int(exact) else 0)
            if rng.random() > chance:
                given = max(0, given - 1)
            given = min(given, item.owed)
            span = (end - contract.start_date).days
            for _ in range(given):
                day = contract.start_date + timedelta(days=rng.randint(0, span))
                db.session.add(ServiceDelivery(
                    id=new_id(), resident_id=resident.id, item_code=item.code, delivered_on=day,
                    method=METHOD.get(item.code, "clinic"), recorded_by_id=contract.doctor_id,
                    body_hash="%064x" % rng.getrandbits(256), created_at=_moment(day, rng),
                    updated_at=_moment(day, rng)))
    db.session.flush()
    _calls(rng, today, contracts, residents)


def _calls(rng: random.Random, today: date, contracts: list[Contract], residents: dict[str, Resident]) -> None:
    """Calls over the last month to overdue patients; moves and deaths await confirmation."""
    team_of = {c.resident_id: (c.team_id, c.doctor_id) for c in contracts if c.status == "active"}
    overdue = sorted({c.resident_id for c in db.session.scalars(sa.select(Condition).where(
        Condition.deregistered_on.is_(None), Condition.next_due_on < today)) if c.resident_id in team_of})
    for resident_id in rng.sample(overdue, k=min(len(overdue), 60)):
        outcome = rng.choices([o for o, _ in OUTCOMES], weights=[w for _, w in OUTCOMES])[0]
        team_id, doctor_id = team_of[resident_id]
        called = _moment(today - timedelta(days=rng.randint(0, 29)), rng)
        db.session.add(Call(resident_id=resident_id, team_id=team_id, outcome=outcome, called_at=called,
                            called_by_id=doctor_id, created_at=called, updated_at=called,
                            confirmation="pending" if outcome in ("moved_away", "died") else None))
        if outcome == "wrong_number":
            residents[resident_id].phone_wrong = True
    db.session.flush()


# Reminders that could not be delivered: the call lists of the day
UNREACHED = [("no_credit", None, 0.5), ("failed", "errcode 43101: user refuse to accept the msg", 0.3),
             ("refused", "errcode 43101", 0.2)]


def load_unreached_reminders(rng: random.Random, today: date) -> None:
    """On every team's call list, residents whose reminder did not reach them (no subscription
    left, WeChat refused it), as the dispatcher leaves them: of each team's overdue patients
    with a phone, the latest due and every fourth after it, at most five. Keyed as the planner
    keys its reminders, so the scheduler does not plan them again."""
    from backend.directory.models import TeamServiceArea
    from backend.notifications.models import Notification
    from backend.notifications.service import reminder_key

    if db.session.scalar(sa.select(sa.func.count()).select_from(Notification)):
        return  # loaded before, or the scheduler has run
    areas: dict[str, list[str]] = {}
    for team_id, region_code in db.session.execute(sa.select(TeamServiceArea.team_id, TeamServiceArea.region_code)
                                                   .order_by(TeamServiceArea.region_code)):
        areas.setdefault(team_id, []).append(region_code)
    chosen: set[str] = set()
    for team_id in sorted(areas, key=lambda t: areas[t][0]):  # in an order the seed fixes (ids are random)
        due = db.session.execute(
            sa.select(Condition.id, Condition.resident_id, Condition.next_due_on)
            .join(Resident, Resident.id == Condition.resident_id).where(
                Condition.deregistered_on.is_(None), Condition.next_due_on <= today,
                Resident.phone_shown.is_not(None), Resident.region_code.in_(areas[team_id]))
            .order_by(Condition.next_due_on.desc(), Condition.disease, Resident.name, Resident.birth_date)).all()
        for condition_id, resident_id, due_on in due[:20:4]:
            if condition_id in chosen:
                continue
            chosen.add(condition_id)
            status, error = rng.choices([(s, e) for s, e, _ in UNREACHED], [w for _, _, w in UNREACHED])[0]
            sent = datetime.combine(due_on, time(9, 0), tzinfo=clock.CIVIL_TZ)
            db.session.add(Notification(
                idempotency_key=reminder_key(resident_id, "follow_up", due_on, "due_day"), resident_id=resident_id,
                reason="follow_up", subject_id=condition_id, due_on=due_on, step="due_day",
                template_id="demo-follow-up-template", page=f"pages/follow-ups/index?resident_id={resident_id}",
                data={}, status=status, send_after=sent, attempts=1, last_error=error, created_at=sent,
                updated_at=sent))
