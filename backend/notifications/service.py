"""Reminders: planned into the outbox by idempotency key, dispatched by claim, never at night.

Delivery is at most once: a row is claimed, marked as sending before the call to WeChat and
marked with the answer right after. If its dispatcher dies, a claimed row goes back to the
queue, but a row that was being sent is never sent again (WeChat cannot tell us whether it
arrived): it goes to the doctor's call list, so nothing is lost silently either.
"""
from __future__ import annotations

import logging
import uuid
from collections import namedtuple
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from backend import clock
from backend.auth.principal import Principal
from backend.contracts.models import Contract
from backend.contracts.rules import LIVE_STATES
from backend.directory.models import Team
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.extensions import db, dialect_insert
from backend.followups.models import Condition
from backend.followups.service import register_due_columns, register_schedule_listener
from backend.fulfilment import service as fulfilment
from backend.notifications import channel, templates
from backend.notifications.models import CALL_LIST_STATUSES, Notification, SubscriptionCredit
from backend.residents import scope
from backend.residents.models import Account, AccountResident, Resident
from backend.unit_of_work import unit_of_work

log = logging.getLogger("jiayi.notifications")

QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
# The follow-up ladder: step -> days from the due date (each step at most once).
LADDER = (("before_3d", -3), ("due_day", 0), ("overdue_7d", 7))
STEP_OFFSETS = dict(LADDER)
# How far back a planning run makes up steps whose day it missed (the scheduler was down).
CATCH_UP_DAYS = 7
RENEWAL_DAYS_BEFORE_END = 30
MAX_ATTEMPTS = 5
BACKOFF_MINUTES = 2  # 2, 4, 8, 16 minutes between tries
CLAIM_MINUTES = 5
BATCH = 200


def settings():
    return current_app.config["JIAYI"]


# Quiet hours

def in_quiet_hours(moment: datetime) -> bool:
    local = clock.to_civil(moment).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def next_allowed(moment: datetime) -> datetime:
    """The moment itself, or 08:00 of the (next) morning when it falls in the quiet hours."""
    local = clock.to_civil(moment)
    if not in_quiet_hours(local):
        return local
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=clock.CIVIL_TZ)


# Planning

def reminder_key(resident_id: str, reason: str, due_on: date, step: str) -> str:
    return f"{resident_id}:{reason}:{due_on.isoformat()}:{step}"


def _existing_keys(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 5000):  # bounded IN lists
        found.update(db.session.scalars(sa.select(Notification.idempotency_key)
                                        .where(Notification.idempotency_key.in_(keys[start:start + 5000]))))
    return found


def _insert_new(rows: list[dict]) -> list[dict]:
    """Insert ``rows``, whose keys the caller found new; returns the rows this insert wrote. A
    planner racing this one may have written a few of them first: its rows stand, nothing is
    doubled, and they are not counted here."""
    if not rows:
        return []
    table = Notification.__table__
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]) \
        .returning(table.c.idempotency_key)
    now = clock.utcnow()
    values = [{"id": str(uuid.uuid4()), "status": "pending", "attempts": 0, "created_at": now, "updated_at": now,
               "last_error": None, **r} for r in rows]
    written = set(db.session.execute(statement, values).scalars())
    return [r for r in rows if r["idempotency_key"] in written]


def _team_names(resident_ids: set[str], today: date) -> dict[str, str]:
    rows = db.session.execute(
        sa.select(Contract.resident_id, Team.name).join(Team, Team.id == Contract.team_id)
        .where(Contract.resident_id.in_(resident_ids), Contract.status == "active", Contract.end_date >= today)
    )
    return dict(rows.all())


def _ladder_plan(due_on: date, today: date) -> tuple[str | None, list[str]]:
    """The step to send today for a follow-up due on ``due_on``: the latest whose day has come
    within the catch-up window (None when none has), and the earlier steps it passes over."""
    come = [step for step, _ in LADDER if _step_day(due_on, step) <= today]
    if not come or _step_day(due_on, come[-1]) < today - timedelta(days=CATCH_UP_DAYS):
        return None, []
    return come[-1], come[:-1]


def _step_day(due_on: date, step: str) -> date:
    return due_on + timedelta(days=STEP_OFFSETS[step])


def _follow_up_rows(conditions: list, now: datetime) -> tuple[int, list[dict]]:
    """Outbox rows for the open follow-ups ``conditions`` (rows of id, resident_id, disease and
    next_due_on): for each, the latest ladder step whose day has come and that is not in the
    outbox yet, worded for the day it goes out; the earlier steps it passes over, when not in
    the outbox either, as ``skipped`` rows (recorded, never sent). A step already in the outbox
    stops the condition there: whatever came before it was decided when it was planned."""
    today = clock.to_civil(now).date()
    send_after = next_allowed(now)
    sent_on = clock.to_civil(send_after).date()
    template = settings().wechat_template_follow_up
    planned = []
    for c in conditions:
        latest, passed = _ladder_plan(c.next_due_on, today)
        if latest is not None:
            reason = f"follow_up:{c.disease}"
            keys = {step: reminder_key(c.resident_id, reason, c.next_due_on, step) for step in (*passed, latest)}
            planned.append((c, latest, passed, keys))
    if not planned:
        return 0, []
    known = _existing_keys([key for *_, keys in planned for key in keys.values()])
    todo = [(c, latest, passed, keys) for c, latest, passed, keys in planned if keys[latest] not in known]
    residents = {c.resident_id for c, *_ in todo}
    teams = _team_names(residents, today) if residents else {}
    owed = fulfilment.still_owed(residents, today) if residents else {}
    rows = []
    for c, latest, passed, keys in todo:
        common = {"resident_id": c.resident_id, "reason": "follow_up", "subject_id": c.id, "due_on": c.next_due_on,
                  "template_id": template}
        data, page = templates.follow_up_message(
            c.disease, c.next_due_on, sent_on, teams.get(c.resident_id), c.resident_id,
            owed.get(c.resident_id, {}).get("follow_ups", {}).get(c.disease))
        rows.append({**common, "idempotency_key": keys[latest], "step": latest, "page": page, "data": data,
                     "send_after": send_after})
        for step in passed:
            if keys[step] not in known:
                # Dated the morning it would have gone out, so that the due list's latest
                # reminder stays the one that was sent.
                day = datetime.combine(_step_day(c.next_due_on, step), QUIET_UNTIL, tzinfo=clock.CIVIL_TZ)
                rows.append({**common, "idempotency_key": keys[step], "step": step, "page": page, "data": {},
                             "send_after": min(day, send_after), "status": "skipped",
                             "last_error": "caught up: a later step was due"})
    return len(planned), rows


def plan_follow_up_reminders(now: datetime) -> dict[str, int]:
    """Put into the outbox, for every open follow-up, the latest ladder step whose day has come
    in the last ``CATCH_UP_DAYS`` days and that is not there yet: a day the scheduler missed
    is made up the next run, with one message worded for how late it is."""
    today = clock.to_civil(now).date()
    # Due dates whose ladder has a day in the window (read from the due index).
    earliest = today - timedelta(days=CATCH_UP_DAYS + LADDER[-1][1])
    latest = today - timedelta(days=LADDER[0][1])
    conditions = db.session.execute(
        sa.select(Condition.id, Condition.resident_id, Condition.disease, Condition.next_due_on)
        .where(Condition.deregistered_on.is_(None), Condition.next_due_on.between(earliest, latest))
    ).all()
    due, rows = _follow_up_rows(conditions, now)
    with unit_of_work():
        fresh = _insert_new(rows)
    skipped = sum(1 for r in fresh if r.get("status") == "skipped")
    counts = {"due": due, "planned": len(fresh) - skipped}
    return {**counts, "skipped": skipped} if skipped else counts


_ConditionRow = namedtuple("_ConditionRow", "id resident_id disease next_due_on")


def _plan_at_once(condition_id: str, resident_id: str, disease: str, next_due_on: date) -> None:
    """A condition registered or visited today whose ladder has a step that has already come
    (a back-dated registration or visit) gets it now, not the next morning. In the caller's
    transaction, behind a savepoint: a failure here never fails the visit, and the next
    planning run makes the step up."""
    if _step_day(next_due_on, LADDER[0][0]) > clock.today():
        return  # the usual case: nothing is due yet, and nothing is read
    row = _ConditionRow(condition_id, resident_id, disease, next_due_on)
    try:
        with db.session.begin_nested():
            _insert_new(_follow_up_rows([row], clock.now())[1])
    except sa.exc.SQLAlchemyError as error:
        log.warning("reminder for a new schedule left to the next planning run: %s", type(error).__name__)


register_schedule_listener(_plan_at_once)


def plan_renewal_reminders(now: datetime) -> dict[str, int]:
    """Contracts ending in 30 days (or fewer, when a day was missed) and not yet renewed."""
    today = clock.to_civil(now).date()
    template = settings().wechat_template_renewal
    renewed = sa.select(Contract.renewal_of).where(Contract.renewal_of.is_not(None),
                                                   Contract.status.in_(LIVE_STATES))
    contracts = list(db.session.scalars(
        sa.select(Contract).where(
            Contract.status == "active", Contract.end_date >= today,
            Contract.end_date <= today + timedelta(days=RENEWAL_DAYS_BEFORE_END),
            Contract.id.not_in(renewed),
        )
    ))
    keys = {c.id: reminder_key(c.resident_id, "renewal", c.end_date, "renewal_30d") for c in contracts}
    known = _existing_keys(list(keys.values()))
    contracts = [c for c in contracts if keys[c.id] not in known]
    teams = {t.id: t.name for t in db.session.scalars(sa.select(Team).where(Team.id.in_({c.team_id for c in contracts})))}
    send_after = next_allowed(now)
    sent_on = clock.to_civil(send_after).date()
    owed = fulfilment.still_owed({c.resident_id for c in contracts}, today) if contracts else {}
    rows = []
    for contract in contracts:
        data, page = templates.renewal_message(contract.end_date, sent_on, teams[contract.team_id], contract.id,
                                               owed.get(contract.resident_id, {}).get("items", 0))
        rows.append({
            "idempotency_key": keys[contract.id],
            "resident_id": contract.resident_id, "reason": "renewal", "subject_id": contract.id,
            "due_on": contract.end_date, "step": "renewal_30d", "template_id": template, "page": page,
            "data": data, "send_after": send_after,
        })
    with unit_of_work():
        planned = _insert_new(rows)
    return {"due": len(rows) + len(known), "planned": len(planned)}


# Dispatch

def _still_relevant(n, today: date) -> bool:
    if n.reason == "follow_up":
        condition = db.session.execute(sa.select(Condition.deregistered_on, Condition.next_due_on)
                                       .where(Condition.id == n.subject_id)).first()
        return condition is not None and condition.deregistered_on is None and condition.next_due_on == n.due_on
    contract = db.session.execute(sa.select(Contract.status, Contract.end_date)
                                  .where(Contract.id == n.subject_id)).first()
    renewed = db.session.scalar(sa.select(Contract.id).where(Contract.renewal_of == n.subject_id,
                                                             Contract.status.in_(LIVE_STATES)))
    return contract is not None and contract.status == "active" and contract.end_date >= today and not renewed


def _recipient(resident_id: str, template_id: str):
    """A bound account holding a credit (or a long-term subscription) for the template; self
    first. A row of the account's id and openid and the credit's key and kind, or None."""
    rows = db.session.execute(
        sa.select(Account.id.label("account_id"), Account.openid, SubscriptionCredit.template_id,
                  SubscriptionCredit.long_term, AccountResident.relation)
        .join(AccountResident, AccountResident.account_id == Account.id)
        .join(SubscriptionCredit, SubscriptionCredit.account_id == Account.id)
        .where(AccountResident.resident_id == resident_id, SubscriptionCredit.template_id == template_id,
               sa.or_(SubscriptionCredit.credits > 0, SubscriptionCredit.long_term.is_(True)))
    ).all()
    return min(rows, key=lambda r: (r.relation != "self", r.account_id)) if rows else None


def _take_credit(credit) -> bool:
    if credit.long_term:
        return True
    result = db.session.execute(
        sa.update(SubscriptionCredit)
        .where(SubscriptionCredit.account_id == credit.account_id, SubscriptionCredit.template_id == credit.template_id,
               SubscriptionCredit.credits > 0)
        .values(credits=SubscriptionCredit.credits - 1)
    )
    return result.rowcount == 1


def _give_back_credit(credit) -> None:
    if not credit.long_term:
        db.session.execute(
            sa.update(SubscriptionCredit)
            .where(SubscriptionCredit.account_id == credit.account_id,
                   SubscriptionCredit.template_id == credit.template_id)
            .values(credits=SubscriptionCredit.credits + 1)
        )


def _recover_interrupted(now: datetime) -> dict[str, int]:
    """Rows of a dispatcher that died: unsent ones go back to the queue; one that was being
    sent is not resent (it may have arrived) but goes to the call list."""
    with unit_of_work() as session:
        requeued = session.execute(
            sa.update(Notification).where(Notification.status == "claimed", Notification.claimed_until < now)
            .values(status="pending", claim_token=None)
        ).rowcount
        interrupted = session.execute(
            sa.update(Notification).where(Notification.status == "sending", Notification.claimed_until < now)
            .values(status="failed", last_error="interrupted: delivery unknown", claim_token=None)
        ).rowcount
    return {"requeued": requeued, "interrupted": interrupted}


# What a claimed notification is sent by, read as columns: a batch of ORM objects in the session
# was expired at every commit (two per message), so a batch cost the square of its size, and
# each message was read again after the previous one's commit.
_SENT_BY = (Notification.id, Notification.reason, Notification.subject_id, Notification.due_on,
            Notification.resident_id, Notification.template_id, Notification.data, Notification.page,
            Notification.attempts)


def _claim(now: datetime) -> tuple[str, list]:
    token = str(uuid.uuid4())
    ready = (
        sa.select(Notification.id)
        .where(Notification.status == "pending", Notification.send_after <= now)
        .order_by(Notification.send_after, Notification.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)  # PostgreSQL: concurrent dispatchers take disjoint rows
    )
    with unit_of_work() as session:
        session.execute(
            sa.update(Notification)
            .where(Notification.id.in_(ready.scalar_subquery()), Notification.status == "pending")
            .values(status="claimed", claim_token=token, claimed_until=now + timedelta(minutes=CLAIM_MINUTES))
            .execution_options(synchronize_session=False)
        )
    return token, db.session.execute(
        sa.select(*_SENT_BY).where(Notification.claim_token == token)
        .order_by(Notification.send_after, Notification.id)
    ).all()


def _move(n, token: str, from_status: str, **values) -> bool:
    """Change the row only while this dispatcher still holds it in ``from_status``."""
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == n.id, Notification.status == from_status, Notification.claim_token == token)
        .values(updated_at=clock.utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _send_one(n, token: str, now: datetime, today: date) -> str:
    """Send the claimed notification ``n`` (a row of ``_SENT_BY``)."""
    if not _still_relevant(n, today):
        _move(n, token, "claimed", status="cancelled", claim_token=None, last_error="no longer due")
        return "cancelled"
    credit = _recipient(n.resident_id, n.template_id)
    if credit is None or not _take_credit(credit):
        _move(n, token, "claimed", status="no_credit", claim_token=None,
              last_error="no account with a subscription for this template")
        return "no_credit"
    attempts = n.attempts + 1
    message = (credit.openid, n.template_id, n.data, n.page)
    # Credit, attempt and "sending" are committed together before the message goes out.
    if not _move(n, token, "claimed", status="sending", account_id=credit.account_id, attempts=attempts,
                 claimed_until=now + timedelta(minutes=CLAIM_MINUTES)):
        db.session.rollback()  # another dispatcher holds it now; the credit stays
        return "skipped"
    db.session.commit()
    delivery = channel.deliver(*message)
    done = {"channel": delivery.channel, "claim_token": None, "last_error": delivery.error}
    if delivery.outcome == "sent":
        _move(n, token, "sending", status="sent", sent_at=clock.utcnow(), msgid=delivery.msgid, **done)
        return "sent"
    if delivery.outcome == "refused":
        db.session.execute(sa.update(SubscriptionCredit).where(
            SubscriptionCredit.account_id == credit.account_id, SubscriptionCredit.template_id == credit.template_id
        ).values(credits=0, long_term=False))
        _move(n, token, "sending", status="refused", **done)
        return "refused"
    _give_back_credit(credit)
    if delivery.outcome == "retry" and attempts < MAX_ATTEMPTS:
        wait = timedelta(minutes=BACKOFF_MINUTES * 2 ** (attempts - 1))
        _move(n, token, "sending", status="pending", send_after=next_allowed(now + wait), **done)
        return "retry"
    _move(n, token, "sending", status="failed", **done)
    return "failed"


def dispatch(now: datetime) -> dict[str, int]:
    counts = {k: v for k, v in _recover_interrupted(now).items() if v}
    if in_quiet_hours(now):
        held = db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.status == "pending", Notification.send_after <= now))
        return {**counts, "held_for_quiet_hours": held}
    today = clock.to_civil(now).date()
    token, claimed = _claim(now)
    for n in claimed:
        # Each message is its own transaction; a failure leaves the rest claimed, to be requeued.
        with unit_of_work():
            outcome = _send_one(n, token, now, today)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# Credits

def accept_subscriptions(account_id: str, accepted: list[str]) -> dict[str, int]:
    known = {settings().wechat_template_follow_up, settings().wechat_template_renewal}
    unknown = sorted(set(accepted) - known)
    if unknown:
        raise ValidationFailed({"accepted": ["未知的订阅消息模板：" + "、".join(unknown)]})
    long_term = set(settings().wechat_long_term_templates)
    with unit_of_work() as session:
        for template_id in accepted:
            # An upsert, so that two accepts at the same instant both count.
            statement = dialect_insert(SubscriptionCredit).values(
                account_id=account_id, template_id=template_id, credits=1, long_term=template_id in long_term,
                updated_at=clock.utcnow())
            session.execute(statement.on_conflict_do_update(
                index_elements=[SubscriptionCredit.account_id, SubscriptionCredit.template_id],
                set_={"credits": SubscriptionCredit.credits + 1, "long_term": statement.excluded.long_term,
                      "updated_at": statement.excluded.updated_at},
            ))
    return credits_of(account_id)


def credits_of(account_id: str) -> dict[str, int]:
    return dict(db.session.execute(
        sa.select(SubscriptionCredit.template_id, SubscriptionCredit.credits)
        .where(SubscriptionCredit.account_id == account_id).order_by(SubscriptionCredit.template_id)
    ).all())


# Reading the outbox

def list_notifications(principal: Principal, status: str | None) -> sa.Select:
    statement = sa.select(Notification).join(Resident, Resident.id == Notification.resident_id) \
        .where(scope.visible_to(principal))
    if status:
        statement = statement.where(Notification.status == status)
    return statement.order_by(Notification.send_after.desc(), Notification.id)


def retry(principal: Principal, notification_id: str) -> Notification:
    n = db.session.scalar(sa.select(Notification).join(Resident, Resident.id == Notification.resident_id)
                          .where(Notification.id == notification_id, scope.visible_to(principal)))
    if n is None:
        raise NotFound("通知不存在")
    if n.status not in CALL_LIST_STATUSES:
        raise Conflict(f"当前状态（{n.status}）不能重发", code="invalid_transition")
    with unit_of_work():
        n.status, n.attempts, n.send_after, n.last_error = "pending", 0, next_allowed(clock.now()), None
    return n


def reminders_of(resident_id: str) -> list[Notification]:
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.resident_id == resident_id)
        .order_by(Notification.due_on.desc(), Notification.send_after.desc())
    ))


def _reminder_columns(page: sa.Subquery) -> list:
    """For the due list: the latest reminder for each condition's current due date, and
    whether the doctor should call (a step that could not be delivered)."""
    of_due = sa.and_(Notification.subject_id == page.c.id, Notification.due_on == page.c.next_due_on)
    return [
        sa.select(Notification.status.label("reminder_status"),
                  sa.func.coalesce(Notification.sent_at, Notification.send_after).label("reminder_at"))
        .where(of_due).order_by(Notification.send_after.desc()).limit(1),
        sa.exists().where(of_due, Notification.status.in_(CALL_LIST_STATUSES)).label("reminder_needs_call"),
    ]


register_due_columns(_reminder_columns)
