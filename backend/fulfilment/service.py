"""Contract fulfilment (履约): what each contract owes, what the team delivered, the team's
work list of residents behind, and the calls made from the call list."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from backend import clock
from backend.auth.principal import Principal
from backend.contracts.models import Contract
from backend.contracts.rules import LIVE_STATES
from backend.contracts.service import current_contract, ensure_may_see_team
from backend.directory.service import get_team
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.exams.models import HealthCheck
from backend.extensions import db, new_id
from backend.followups.models import Condition, FollowUp
from backend.followups.service import register_due_columns
from backend.fulfilment import progress, rules
from backend.fulfilment.models import LEAVING, Call, ServiceDelivery
from backend.idempotency import fingerprint, store_once, stored_resend
from backend.residents import scope
from backend.unit_of_work import unit_of_work

COUNTED = ("active", "expired", "terminated")  # contracts with a term that was in force
WILL_VISIT_DAYS = 7  # a resident who promised to come leaves the call list for this long
ENDING_DAYS = 60
CALL_REASONS = {"moved_away": "迁出本地", "died": "居民死亡"}
DEREGISTER_REASONS = {"moved_away": "moved_away", "died": "death"}


# What a contract owes and what was delivered

def _term_end(contract: Contract) -> date:
    """Deliveries count up to the term's end, or to the day a terminated contract ended."""
    if contract.status == "terminated" and contract.ended_on and contract.ended_on < contract.end_date:
        return contract.ended_on
    return contract.end_date


def delivered_counts(contracts: list[Contract], on: date) -> dict[str, Counter]:
    """For each contract, its items' deliveries within the term up to ``on``: recorded services,
    face-to-face follow-ups for the follow-up items (one per visit day: a visit entered twice
    under two ids still counts once), and health checks for the health-check item (one per
    check day, likewise)."""
    counts: dict[str, Counter] = {}
    started = [c for c in contracts if c.start_date is not None]
    if not started:
        return counts
    resident_ids = sorted({c.resident_id for c in started})
    since = min(c.start_date for c in started)
    deliveries: dict[str, list[tuple[str, date]]] = {}
    visits: dict[str, set[tuple[str, date]]] = {}
    checks: dict[str, set[date]] = {}
    for i in range(0, len(resident_ids), progress.CHUNK):
        chunk = resident_ids[i:i + progress.CHUNK]
        for resident_id, code, day in db.session.execute(
            sa.select(ServiceDelivery.resident_id, ServiceDelivery.item_code, ServiceDelivery.delivered_on)
            .where(ServiceDelivery.resident_id.in_(chunk), ServiceDelivery.delivered_on.between(since, on))
        ):
            deliveries.setdefault(resident_id, []).append((code, day))
        for resident_id, disease, day in db.session.execute(
            sa.select(FollowUp.resident_id, FollowUp.disease, FollowUp.visited_on)
            .where(FollowUp.resident_id.in_(chunk), FollowUp.method.in_(rules.FACE_TO_FACE),
                   FollowUp.visited_on.between(since, on))
        ):
            visits.setdefault(resident_id, set()).add((disease, day))
        for resident_id, day in db.session.execute(
            sa.select(HealthCheck.resident_id, HealthCheck.checked_on)
            .where(HealthCheck.resident_id.in_(chunk), HealthCheck.checked_on.between(since, on))
        ):
            checks.setdefault(resident_id, set()).add(day)
    for contract in started:
        start, end = contract.start_date, _term_end(contract)
        by_disease = {i.follow_up_disease: i.code for i in contract.items if i.follow_up_disease}
        checked = {i.code for i in contract.items if i.health_check and not i.follow_up_disease}
        plain = {i.code for i in contract.items if not i.follow_up_disease and not i.health_check}
        count: Counter = Counter()
        for code, day in deliveries.get(contract.resident_id, ()):
            if code in plain and start <= day <= end:
                count[code] += 1
        for disease, day in visits.get(contract.resident_id, ()):
            if disease in by_disease and start <= day <= end:
                count[by_disease[disease]] += 1
        days_checked = sum(1 for day in checks.get(contract.resident_id, ()) if start <= day <= end)
        for code in checked:
            count[code] += days_checked
        counts[contract.id] = count
    return counts


def fulfilment_view(contract: Contract, delivered: Counter, on: date) -> dict:
    start, end = contract.start_date, contract.end_date
    counted_to = min(on, _term_end(contract))
    items = [rules.item_state(i.code, i.name, i.owed, delivered.get(i.code, 0), start, end, counted_to)
             for i in contract.items]
    counted_from = {i.code: "follow_ups" if i.follow_up_disease else "health_checks" if i.health_check
                    else "services" for i in contract.items}
    return {
        "contract_id": contract.id,
        "resident_id": contract.resident_id,
        "start_date": start,
        "end_date": end,
        "as_of": on,
        "status": rules.status_of(items),
        "items": [{"code": i.code, "name": i.name, "owed": i.owed, "delivered": i.delivered,
                   "remaining": i.remaining, "owed_by_today": i.owed_by_today, "behind_by": i.behind_by,
                   "counted_from": counted_from[i.code]} for i in items],
        "remaining": sum(i.remaining for i in items),
        "behind_by": sum(i.behind_by for i in items),
    }


def stored_counts(contract: Contract, on: date) -> Counter | None:
    """What was delivered of a contract's items as stored on them, when that is what
    ``delivered_counts`` would count: an active contract, on today (nothing is recorded ahead of
    today, and every write that can change the counts counts them again: fulfilment.progress)."""
    if contract.status == "active" and contract.start_date is not None and on >= clock.today():
        return Counter({i.code: i.delivered for i in contract.items})
    return None


def views_of(contracts: list[Contract], on: date, live: bool = False) -> dict[str, dict]:
    """Each started contract's fulfilment on ``on``: from the counts stored on its items where
    they hold (``stored_counts``), else, or with ``live``, counted from the deliveries."""
    counts = {} if live else {c.id: n for c in contracts if (n := stored_counts(c, on)) is not None}
    counts.update(delivered_counts([c for c in contracts if c.id not in counts], on))
    return {c.id: fulfilment_view(c, counts.get(c.id, Counter()), on) for c in contracts if c.start_date}


def contract_fulfilment(principal: Principal, contract_id: str) -> dict:
    """The contract's fulfilment for its resident's accounts and staff who see the resident."""
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise NotFound("签约不存在")
    scope.visible_resident(principal, contract.resident_id)  # 404 outside the caller's scope
    if contract.status not in COUNTED or contract.start_date is None:
        raise Conflict("签约尚未生效，暂无履约情况", code="contract_not_started")
    return views_of([contract], clock.today())[contract.id]


def fulfilment_on(contract: Contract | None, today: date) -> dict | None:
    """The health record's part: the fulfilment of the resident's current contract (see
    contracts.service.current_contract) if it is in force today."""
    if contract is None or contract.start_date is None or contract.start_date > today:
        return None
    return views_of([contract], today)[contract.id]


def still_owed(resident_ids: set[str], today: date) -> dict[str, dict]:
    """For the reminders: per resident with a contract in force today, how many items still
    owe something and how many face-to-face follow-ups each disease still needs this term."""
    if not resident_ids:
        return {}
    contracts = list(db.session.scalars(sa.select(Contract).where(
        Contract.resident_id.in_(resident_ids), Contract.status == "active",
        Contract.start_date <= today, Contract.end_date >= today)))
    views = views_of(contracts, today)
    owed: dict[str, dict] = {}
    for contract in contracts:
        view = views[contract.id]
        diseases = {i.code: i.follow_up_disease for i in contract.items if i.follow_up_disease}
        owed[contract.resident_id] = {
            "items": sum(1 for i in view["items"] if i["remaining"] > 0),
            "follow_ups": {diseases[i["code"]]: i["remaining"] for i in view["items"] if i["code"] in diseases},
        }
    return owed


# Delivery records

def _contract_on(resident_id: str, day: date) -> Contract | None:
    """The contract whose term covered ``day`` (a terminated one only up to the day it ended)."""
    return db.session.scalar(sa.select(Contract).where(
        Contract.resident_id == resident_id, Contract.status.in_(COUNTED),
        Contract.start_date <= day, Contract.end_date >= day,
        sa.or_(Contract.status != "terminated", Contract.ended_on >= day),
    ).order_by(Contract.start_date.desc()).limit(1))


def record_delivery(principal: Principal, resident_id: str, data: dict) -> tuple[ServiceDelivery, bool]:
    """Store a delivered service; returns (delivery, created). A resend of the same body returns
    the stored one; the same id with another body is a conflict."""
    resident = scope.visible_resident(principal, resident_id)
    delivery_id = data.get("id") or new_id()
    body_hash = fingerprint(resident.id, data)
    if data.get("id") and (stored := stored_resend(ServiceDelivery, delivery_id, body_hash, "服务记录")):
        return stored, False
    day = data["delivered_on"]
    if day > clock.today():
        raise ValidationFailed({"delivered_on": ["服务日期不能晚于今天"]})
    contract = _contract_on(resident.id, day)
    if contract is None:
        raise ValidationFailed({"delivered_on": ["该日期居民没有生效的签约"]})
    if contract.team_id not in principal.team_ids:
        raise Forbidden("只有签约团队的成员可以登记履约服务")
    item = next((i for i in contract.items if i.code == data["item_code"]), None)
    if item is None:
        raise ValidationFailed({"item_code": ["该居民的签约不含此服务项目"]})
    if item.follow_up_disease:
        raise ValidationFailed({"item_code": ["随访项目由面对面随访自动计入，请登记随访"]})
    if item.health_check:
        raise ValidationFailed({"item_code": ["健康体检项目由健康体检记录自动计入，请登记健康体检"]})
    delivery = ServiceDelivery(id=delivery_id, resident_id=resident.id, item_code=item.code, delivered_on=day,
                               method=data["method"], notes=data.get("notes"), recorded_by_id=principal.id,
                               body_hash=body_hash)
    return store_once(delivery, body_hash, "服务记录")


def deliveries_of(resident_id: str) -> sa.Select:
    return sa.select(ServiceDelivery).where(ServiceDelivery.resident_id == resident_id) \
        .order_by(ServiceDelivery.delivered_on.desc(), ServiceDelivery.created_at.desc())


# The team's work list

def team_work_list(principal: Principal, team_id: str, kind: str, page: int, page_size: int) -> dict:
    """A page of ``behind``: residents behind on their contract, most behind first; or of
    ``ending``: contracts ending within 60 days with items still owed, soonest first. The
    database picks and orders the page; only its contracts are loaded and shown in full."""
    team = get_team(team_id)
    ensure_may_see_team(principal, team)
    today = clock.today()
    total, ids = progress.work_list_page(team.id, kind, today, today + timedelta(days=ENDING_DAYS), page, page_size)
    contracts = list(db.session.scalars(sa.select(Contract).where(Contract.id.in_(ids))))
    views = views_of(contracts, today)
    return {"items": [views[i] for i in ids], "page": page, "page_size": page_size, "total": total}


# Calls

def record_call(principal: Principal, resident_id: str, data: dict) -> tuple[Call, bool]:
    """Record a call's outcome; (call, created). A resend under the same client id with the same
    body answers the stored call; the same id with another body is a conflict."""
    resident = scope.visible_resident(principal, resident_id)
    body_hash = fingerprint(resident.id, data)
    if data.get("id") and (stored := stored_resend(Call, data["id"], body_hash, "通话记录")):
        return stored, False
    now = clock.now()
    called_at = data.get("called_at") or now
    if called_at > now + timedelta(minutes=5):
        raise ValidationFailed({"called_at": ["通话时间不能晚于现在"]})
    contract = current_contract(resident.id, clock.today())
    team_id = contract.team_id if contract and contract.team_id in principal.team_ids else \
        (principal.team_ids[0] if principal.team_ids else None)
    call = Call(id=data.get("id") or new_id(), resident_id=resident.id, team_id=team_id, outcome=data["outcome"],
                notes=data.get("notes"), called_at=called_at, called_by_id=principal.id, body_hash=body_hash,
                confirmation="pending" if data["outcome"] in LEAVING else None)

    def wrong_number() -> None:
        if data["outcome"] == "wrong_number":
            resident.phone_wrong = True

    return store_once(call, body_hash, "通话记录", then=wrong_number)


def confirm_call(principal: Principal, resident_id: str, call_id: str, confirm: bool) -> Call:
    """Confirm (or dismiss) a moved-away or death outcome. Confirming is a second look: by
    another staff member than the caller, of the team holding the resident's contract when
    there is one. It ends the resident's management here in one transaction: every active
    condition is deregistered and the contracts end with that reason (an active one
    terminated, a pending one or one not started yet cancelled)."""
    resident = scope.visible_resident(principal, resident_id)
    call = db.session.get(Call, call_id)
    if call is None or call.resident_id != resident.id:
        raise NotFound("通话记录不存在")
    if call.confirmation != "pending":
        raise Conflict("该通话结果无需确认或已处理", code="invalid_transition")
    today = clock.today()
    live = list(db.session.scalars(sa.select(Contract).where(
        Contract.resident_id == resident.id, Contract.status.in_(LIVE_STATES))))
    if confirm:
        if call.called_by_id == principal.id:
            raise Forbidden("迁出、死亡须由另一名医务人员确认")
        teams = {c.team_id for c in live}
        if teams and not teams & set(principal.team_ids):
            raise Forbidden("只有签约团队的成员可以确认")
    with unit_of_work(keep_loaded=True):
        # Only while still pending: of two answers at once, one wins and the other is a 409.
        taken = db.session.execute(
            sa.update(Call).where(Call.id == call.id, Call.confirmation == "pending")
            .values(confirmation="confirmed" if confirm else "dismissed", confirmed_by_id=principal.id,
                    confirmed_at=clock.utcnow(), updated_at=clock.utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            raise Conflict("该通话结果已由他人处理", code="invalid_transition")
        if confirm:
            # Ended as of the confirmation: the call is a report, the confirmation the decision.
            for condition in db.session.scalars(sa.select(Condition).where(
                    Condition.resident_id == resident.id, Condition.deregistered_on.is_(None))):
                condition.deregistered_on = max(today, condition.registered_on)
                condition.deregistration_reason = DEREGISTER_REASONS[call.outcome]
            for contract in live:
                if contract.status == "pending" or contract.start_date > today:
                    contract.status = "cancelled"
                elif contract.end_date >= today:
                    contract.status = "terminated"
                else:
                    continue  # its term had ended: it stays as it ended
                contract.reason, contract.ended_on = CALL_REASONS[call.outcome], today
                contract.decided_by_id, contract.decided_at = principal.id, clock.utcnow()
    db.session.refresh(call)
    return call


def calls_query(resident_id: str) -> sa.Select:
    return sa.select(Call).where(Call.resident_id == resident_id) \
        .order_by(Call.called_at.desc(), Call.created_at.desc(), Call.id)


def calls_of(resident_id: str) -> list[Call]:
    return list(db.session.scalars(calls_query(resident_id)))


def _last_call_columns(page: sa.Subquery) -> list:
    """For the due list: each resident's latest call of the last 90 days."""
    return [sa.select(Call.outcome.label("last_call_outcome"), Call.called_at.label("last_called_at"))
            .where(Call.resident_id == page.c.resident_id,
                   Call.called_at >= sa.bindparam("calls_since", type_=Call.called_at.type))
            .order_by(Call.called_at.desc(), Call.created_at.desc()).limit(1)]


register_due_columns(_last_call_columns, lambda now: {"calls_since": now - timedelta(days=90)})


def off_call_list(outcome: str | None, called_at: datetime | None, now: datetime) -> bool:
    """A resident who promised on the phone to come is off the call list for WILL_VISIT_DAYS."""
    return outcome == "reached_will_visit" and called_at > now - timedelta(days=WILL_VISIT_DAYS)


def call_view(call: Call) -> dict:
    return {"id": call.id, "resident_id": call.resident_id, "team_id": call.team_id, "outcome": call.outcome,
            "notes": call.notes, "called_at": call.called_at, "called_by_id": call.called_by_id,
            "confirmation": call.confirmation, "confirmed_at": call.confirmed_at}
