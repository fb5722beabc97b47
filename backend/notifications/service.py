"""Reminders: planned into the outbox by idempotency key, dispatched by claim, never at night.

Delivery is at most once: a row is claimed, marked as sending before the call to WeChat and
marked with the answer right after. If its dispatcher dies, a claimed row goes back to the
queue, but a row that was being sent is never sent again (WeChat cannot tell us whether it
arrived): it goes to the doctor's call list, so nothing is lost silently either.
"""
from __future__ import annotations

import uuid
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
from backend.followups.service import register_due_columns
from backend.fulfilment import service as fulfilment
from backend.notifications import channel, templates
from backend.notifications.models import CALL_LIST_STATUSES, Notification, SubscriptionCredit
from backend.residents import scope
from backend.residents.models import Account, AccountResident, Resident
from backend.unit_of_work import unit_of_work

QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
# The follow-up ladder: step -> days from the due date (each step at most once).
LADDER = (("before_3d", -3), ("due_day", 0), ("overdue_7d", 7))
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

def _key(resident_id: str, reason: str, due_on: date, step: str) -> str:
    return f"{resident_id}:{reason}:{due_on.isoformat()}:{step}"


def _insert_missing(rows: list[dict]) -> int:
    """Insert the rows whose idempotency key is new; a concurrent planner's rows are kept."""
    if not rows:
        return 0
    keys = [r["idempotency_key"] for r in rows]
    existing = set(db.session.scalars(sa.select(Notification.idempotency_key)
                                      .where(Notification.idempotency_key.in_(keys))))
    fresh = [r for r in rows if r["idempotency_key"] not in existing]
    if not fresh:
        return 0
    statement = dialect_insert(Notification.__table__).on_conflict_do_nothing(index_elements=["idempotency_key"])
    now = clock.utcnow()
    values = [{"id": str(uuid.uuid4()), "status": "pending", "attempts": 0, "created_at": now, "updated_at": now,
               **r} for r in fresh]
    db.session.execute(statement, values)
    return len(fresh)


def _team_names(resident_ids: set[str], today: date) -> dict[str, str]:
    rows = db.session.execute(
        sa.select(Contract.resident_id, Team.name).join(Team, Team.id == Contract.team_id)
        .where(Contract.resident_id.in_(resident_ids), Contract.status == "active", Contract.end_date >= today)
    )
    return dict(rows.all())


def plan_follow_up_reminders(now: datetime) -> dict[str, int]:
    """Put today's ladder steps of every open follow-up into the outbox."""
    today = clock.to_civil(now).date()
    template = settings().wechat_template_follow_up
    send_after = next_allowed(now)
    # Conditions whose due date puts today on one of the ladder's days (read from the due index).
    due_dates = {today - timedelta(days=offset): step for step, offset in LADDER}
    conditions = list(db.session.scalars(
        sa.select(Condition).where(Condition.deregistered_on.is_(None), Condition.next_due_on.in_(list(due_dates)))
    ))
    teams = _team_names({c.resident_id for c in conditions}, today)
    owed = fulfilment.still_owed({c.resident_id for c in conditions}, today)
    rows = []
    for condition in conditions:
        step = due_dates[condition.next_due_on]
        data, page = templates.follow_up_message(
            condition.disease, condition.next_due_on, step, teams.get(condition.resident_id), condition.resident_id,
            owed.get(condition.resident_id, {}).get("follow_ups", {}).get(condition.disease))
        rows.append({
            "idempotency_key": _key(condition.resident_id, f"follow_up:{condition.disease}", condition.next_due_on,
                                    step),
            "resident_id": condition.resident_id, "reason": "follow_up", "subject_id": condition.id,
            "due_on": condition.next_due_on, "step": step, "template_id": template, "page": page, "data": data,
            "send_after": send_after,
        })
    with unit_of_work():
        planned = _insert_missing(rows)
    return {"due": len(rows), "planned": planned}


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
    teams = {t.id: t.name for t in db.session.scalars(sa.select(Team).where(Team.id.in_({c.team_id for c in contracts})))}
    send_after = next_allowed(now)
    owed = fulfilment.still_owed({c.resident_id for c in contracts}, today)
    rows = []
    for contract in contracts:
        data, page = templates.renewal_message(contract.end_date, teams[contract.team_id], contract.id,
                                               owed.get(contract.resident_id, {}).get("items", 0))
        rows.append({
            "idempotency_key": _key(contract.resident_id, "renewal", contract.end_date, "renewal_30d"),
            "resident_id": contract.resident_id, "reason": "renewal", "subject_id": contract.id,
            "due_on": contract.end_date, "step": "renewal_30d", "template_id": template, "page": page,
            "data": data, "send_after": send_after,
        })
    with unit_of_work():
        planned = _insert_missing(rows)
    return {"due": len(rows), "planned": planned}


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
