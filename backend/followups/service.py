"""Conditions and follow-ups: registration, visits classified by the national rules, due lists."""
from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from flask import current_app

from backend import clock
from backend.auth.principal import Principal
from backend.common import names_of, page_total
from backend.contracts.models import Contract
from backend.contracts.rules import LIVE_STATES
from backend.contracts.service import recording_team
from backend.directory.models import Institution, Region, Staff
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.extensions import db, new_id, on_postgresql, written
from backend.followups import rules
from backend.followups.models import Condition, FollowUp
from backend.idempotency import fingerprint, store_once
from backend.referrals.models import Referral
from backend.residents import scope
from backend.residents.groups import register_group_source
from backend.residents.models import Resident
from backend.security.audit import logged_read, logging_reads, record_access
from backend.security.identity import age_on
from backend.unit_of_work import unit_of_work


# Other domains act on a condition's new schedule in the transaction that sets it (registration,
# a visit): reminders plan a step whose day has already come at once, instead of the next morning.
# A listener is called with the condition's id, resident, disease and new due date.
ScheduleListener = Callable[[str, str, str, date], None]
_schedule_listeners: list[ScheduleListener] = []


def register_schedule_listener(listener: ScheduleListener) -> None:
    _schedule_listeners.append(listener)


def _schedule_set(condition_id: str, resident_id: str, disease: str, next_due_on: date) -> None:
    for listener in _schedule_listeners:
        listener(condition_id, resident_id, disease, next_due_on)


def thresholds() -> rules.Thresholds:
    settings = current_app.config["JIAYI"]
    return rules.Thresholds(controlled_interval_days=settings.controlled_interval_days)


# Key-population tags from registered conditions

def _managed_on(on: date):
    return sa.and_(Condition.registered_on <= on,
                   sa.or_(Condition.deregistered_on.is_(None), Condition.deregistered_on > on))


def _condition_tags(resident_ids: list[str], on: date) -> dict[str, set[str]]:
    if not resident_ids:
        return {}
    rows = db.session.execute(
        sa.select(Condition.resident_id, Condition.disease)
        .where(Condition.resident_id.in_(resident_ids), _managed_on(on))
    )
    tags: dict[str, set[str]] = {}
    for resident_id, disease in rows:
        tags.setdefault(resident_id, set()).add(disease)
    return tags


def _condition_filter(group: str, on: date):
    return Resident.id.in_(sa.select(Condition.resident_id).where(Condition.disease == group, _managed_on(on)))


register_group_source(rules.DISEASES, _condition_tags, _condition_filter)


# Conditions

def conditions_of(resident_id: str) -> list[Condition]:
    return list(db.session.scalars(
        sa.select(Condition).where(Condition.resident_id == resident_id)
        .order_by(Condition.deregistered_on.is_not(None), Condition.registered_on.desc(), Condition.disease)
    ))


def _condition_exists() -> Conflict:
    return Conflict("该居民已登记此慢病", code="condition_exists")


def condition_date_errors(data: dict, birth_date: date, today: date) -> dict:
    """What is wrong with a registration's dates (the county import checks its rows with it too)."""
    registered_on = data.get("registered_on") or today
    errors: dict = {}
    if data["diagnosed_on"] > today:
        errors["diagnosed_on"] = ["不能晚于今天"]
    elif data["diagnosed_on"] < birth_date:
        errors["diagnosed_on"] = ["不能早于出生日期"]
    if registered_on > today:
        errors["registered_on"] = ["不能晚于今天"]
    elif registered_on < data["diagnosed_on"]:
        errors["registered_on"] = ["不能早于确诊日期"]
    return errors


def register_condition(principal: Principal, resident_id: str, data: dict) -> Condition:
    resident = scope.visible_resident(principal, resident_id)
    today = clock.today()
    registered_on = data.get("registered_on") or today
    errors = condition_date_errors(data, resident.birth_date, today)
    if errors:
        raise ValidationFailed(errors)
    active = db.session.scalar(sa.select(Condition.id).where(
        Condition.resident_id == resident.id, Condition.disease == data["disease"],
        Condition.deregistered_on.is_(None)))
    if active:
        raise _condition_exists()
    with unit_of_work(_condition_exists()) as session:
        condition = Condition(resident_id=resident.id, disease=data["disease"], diagnosed_on=data["diagnosed_on"],
                              registered_on=registered_on, registered_by_id=principal.id,
                              next_due_on=rules.first_due_on(registered_on, thresholds()))
        session.add(condition)
        session.flush()
        _schedule_set(condition.id, condition.resident_id, condition.disease, condition.next_due_on)
    return condition


def deregister_condition(principal: Principal, resident_id: str, condition_id: str, data: dict) -> Condition:
    resident = scope.visible_resident(principal, resident_id)
    condition = db.session.get(Condition, condition_id)
    if condition is None or condition.resident_id != resident.id:
        raise NotFound("慢病登记不存在")
    if condition.deregistered_on is not None:
        raise Conflict("该慢病登记已撤销", code="invalid_transition")
    on = data.get("on") or clock.today()
    if on > clock.today() or on < condition.registered_on:
        raise ValidationFailed({"on": [f"须在纳入管理日期（{condition.registered_on}）与今天之间"]})
    with unit_of_work():
        condition.deregistered_on = on
        condition.deregistration_reason = data["reason"]
    return condition


# Follow-ups

def _check_readings(data: dict, resident: Resident) -> None:
    """Plausible values and what each disease needs; every failure named at once."""
    errors: dict = {}
    today = clock.today()
    if data["visited_on"] > today:
        errors["visited_on"] = ["随访日期不能晚于今天"]
    elif data["visited_on"] < resident.birth_date:
        errors["visited_on"] = ["随访日期不能早于出生日期"]
    sbp, dbp = data.get("sbp"), data.get("dbp")
    if sbp is not None and dbp is not None and dbp >= sbp:
        errors.setdefault("dbp", []).append("舒张压须低于收缩压")
    if data["disease"] == "hypertension":
        for name in ("sbp", "dbp"):
            if data.get(name) is None:
                errors.setdefault(name, []).append("高血压随访须填写血压")
        for name in rules.DIABETES_ONLY:
            if data.get(name) is not None:
                errors.setdefault(name, []).append("仅用于糖尿病随访")
    elif data.get("fasting_glucose") is None:
        errors["fasting_glucose"] = ["糖尿病随访须填写空腹血糖"]
    if data.get("adverse_reaction_detail") and not data.get("adverse_reaction"):
        errors["adverse_reaction_detail"] = ["未勾选药物不良反应时不填写表现"]
    if data.get("hba1c_on") is not None:
        if data.get("hba1c") is None:
            errors["hba1c_on"] = ["未填写糖化血红蛋白时不填写检查日期"]
        elif data["hba1c_on"] > data["visited_on"]:
            errors["hba1c_on"] = ["检查日期不能晚于随访日期"]
        elif data["hba1c_on"] < resident.birth_date:
            errors["hba1c_on"] = ["检查日期不能早于出生日期"]
    referral = data.get("referral")
    if referral is not None:
        if referral.get("institution_id"):
            institution = db.session.get(Institution, referral["institution_id"])
            if institution is None:
                errors["referral.institution_id"] = ["机构不存在"]
            else:  # the directory's name stands
                data["referral"] = {**referral, "institution_name": institution.name}
        elif not referral.get("institution_name"):
            errors["referral.institution_name"] = ["请填写转入机构"]
    if errors:
        raise ValidationFailed(errors)


def _previous(condition: Condition, before: date, exclude_id: str) -> rules.Previous | None:
    row = db.session.execute(
        sa.select(FollowUp.on_target, FollowUp.adverse_reaction)
        .where(FollowUp.condition_id == condition.id, FollowUp.visited_on <= before, FollowUp.id != exclude_id)
        .order_by(FollowUp.visited_on.desc(), FollowUp.created_at.desc()).limit(1)
    ).first()
    return None if row is None else rules.Previous(on_target=row.on_target, adverse_reaction=row.adverse_reaction)


# The hot path of a visit runs statements built once, with its values bound.
_CONDITION_WITH_LAST = (
    sa.select(Condition, FollowUp.on_target, FollowUp.adverse_reaction)
    .outerjoin(FollowUp, FollowUp.id == Condition.last_follow_up_id)
    .where(Condition.resident_id == sa.bindparam("resident_id"), Condition.disease == sa.bindparam("disease"),
           Condition.deregistered_on.is_(None))
)
_RESCHEDULE = (
    sa.update(Condition)
    .where(Condition.id == sa.bindparam("condition_id"),
           sa.or_(Condition.last_visited_on.is_(None), Condition.last_visited_on <= sa.bindparam("visited_on")))
    .values(next_due_on=sa.bindparam("next_due_on"), last_follow_up_id=sa.bindparam("follow_up_id"),
            last_visited_on=sa.bindparam("visited_on"), urgent=sa.bindparam("urgent"),
            updated_at=sa.bindparam("updated_at", type_=Condition.updated_at.type))
    .execution_options(synchronize_session=False)
)


def record_follow_up(principal: Principal, resident_id: str, data: dict) -> tuple[FollowUp, bool]:
    """Store a visit; returns (follow-up, created). A resend of the same body returns the stored one."""
    resident = scope.visible_resident(principal, resident_id)
    follow_up_id = data.get("id") or new_id()
    body_hash = fingerprint(resident.id, data)
    _check_readings(data, resident)
    # The condition with its latest visit's outcome, which is the previous visit of any visit
    # not dated before it (the usual case): one statement.
    found = db.session.execute(_CONDITION_WITH_LAST, {"resident_id": resident.id, "disease": data["disease"]}).first()
    condition = found.Condition if found else None
    if condition is None:
        raise ValidationFailed({"disease": ["该居民未登记此慢病，请先登记"]})
    if data["visited_on"] < condition.diagnosed_on:
        raise ValidationFailed({"visited_on": [f"随访日期不能早于确诊日期（{condition.diagnosed_on}）"]})
    visit = rules.Visit(
        disease=data["disease"], visited_on=data["visited_on"], sbp=data.get("sbp"), dbp=data.get("dbp"),
        heart_rate=data.get("heart_rate"), temperature_c=data.get("temperature_c"),
        fasting_glucose=data.get("fasting_glucose"), adverse_reaction=data.get("adverse_reaction", False),
        complication=data.get("complication", "none"), symptoms=tuple(data.get("symptoms", ())),
        referred=data.get("referral") is not None,
    )
    pregnant = any(t.group == "pregnant" for t in resident.tags)
    if condition.last_follow_up_id not in (None, follow_up_id) and condition.last_visited_on <= visit.visited_on:
        previous = rules.Previous(on_target=found.on_target, adverse_reaction=found.adverse_reaction)
    else:  # the first visit, or a back-dated one: look for the visit before it in time
        previous = _previous(condition, visit.visited_on, follow_up_id)
    outcome = rules.classify(visit, age_on(resident.birth_date, visit.visited_on), previous, pregnant,
                             thresholds())
    fields = {k: v for k, v in data.items() if k != "id"}
    follow_up = FollowUp(
        id=follow_up_id, resident_id=resident.id, condition_id=condition.id, recorded_by_id=principal.id,
        body_hash=body_hash, classification=outcome.classification, on_target=outcome.on_target,
        refer=outcome.refer, urgent_referral=outcome.urgent_referral,
        referral_reasons=outcome.referral_reasons, next_due_on=outcome.next_due_on,
        bmi=rules.bmi(data.get("weight_kg"), data.get("height_cm")),
        target_bmi=rules.bmi(data.get("target_weight_kg"), data.get("height_cm")),
        **{**fields, "symptoms": list(fields.get("symptoms", [])), "medications": list(fields.get("medications", []))},
    )

    def then() -> None:
        _reschedule(condition, follow_up, resident.birth_date)
        if follow_up.referral is not None:
            _refer(principal, follow_up)

    return store_once(follow_up, body_hash, "随访记录", then)


def _refer(principal: Principal, follow_up: FollowUp) -> None:
    """The referral record of a visit's referral section, for the team the doctor records for."""
    section = follow_up.referral
    db.session.add(Referral(
        follow_up_id=follow_up.id, resident_id=follow_up.resident_id, disease=follow_up.disease,
        urgent=follow_up.urgent_referral, reason=section["reason"], to_institution_id=section.get("institution_id"),
        to_institution_name=section["institution_name"], department=section.get("department"),
        referred_on=follow_up.visited_on, referred_by_id=principal.id,
        team_id=recording_team(principal, follow_up.resident_id), status="referred"))


def _reschedule(condition: Condition, visit: FollowUp, birth_date: date) -> None:
    """The schedule follows the latest visit (a back-dated entry does not move it back): one
    conditional update, so two visits stored at once leave the later one in place. A visit
    that is not the latest is the previous visit of the one after it: see ``_classify_again``."""
    moved = db.session.execute(_RESCHEDULE, {
        "condition_id": condition.id, "visited_on": visit.visited_on, "next_due_on": visit.next_due_on,
        "follow_up_id": visit.id, "urgent": visit.urgent_referral, "updated_at": clock.utcnow()}).rowcount
    db.session.expire(condition)
    if moved:
        _schedule_set(visit.condition_id, visit.resident_id, visit.disease, visit.next_due_on)
    else:
        _classify_again(visit, birth_date)


# Taken before the visits after a late entry are read: every visit that moves the schedule
# holds this row's lock (the conditional update takes it), so what is read next is all that is
# stored, and two late entries of one condition follow each other instead of each missing the
# other. NO KEY UPDATE: a visit's insert (its key share on the condition) does not wait for it.
_LOCK_SCHEDULE = (
    sa.select(Condition.next_due_on, Condition.urgent)
    .where(Condition.id == sa.bindparam("condition_id"))
    .with_for_update(key_share=True)
)
_OUTCOME = ("classification", "on_target", "refer", "urgent_referral", "referral_reasons", "next_due_on")


def _classify_again(visit: FollowUp, birth_date: date) -> None:
    """A visit stored before the condition's latest one: it and every visit after it, in time
    order, classified again, each with the visit before it (the rules' "two consecutive"
    depend on it); the rows whose outcome changed are rewritten (their body_hash stays, so a
    resend still matches) and the condition's schedule follows its latest visit."""
    schedule = db.session.execute(_LOCK_SCHEDULE, {"condition_id": visit.condition_id}).one()
    in_condition = FollowUp.condition_id == visit.condition_id
    same_day = FollowUp.visited_on == visit.visited_on
    # Read again under the lock: another late entry may have been stored just before this one.
    before = db.session.execute(
        sa.select(FollowUp.on_target, FollowUp.adverse_reaction)
        .where(in_condition, FollowUp.id != visit.id, sa.or_(FollowUp.visited_on < visit.visited_on,
                                                            sa.and_(same_day, FollowUp.created_at <= visit.created_at)))
        .order_by(FollowUp.visited_on.desc(), FollowUp.created_at.desc()).limit(1)
    ).first()
    later = db.session.scalars(
        sa.select(FollowUp)
        .where(in_condition, sa.or_(FollowUp.visited_on > visit.visited_on,
                                    sa.and_(same_day, FollowUp.created_at > visit.created_at)))
        .order_by(FollowUp.visited_on, FollowUp.created_at)
    ).all()
    previous = None if before is None else rules.Previous(on_target=before.on_target,
                                                          adverse_reaction=before.adverse_reaction)
    t = thresholds()
    for follow_up in (visit, *later):
        # Pregnancy is not stored with a visit: what its stored outcome counted stands.
        outcome = rules.classify(_visit_of(follow_up), age_on(birth_date, follow_up.visited_on), previous,
                                 rules.counted_pregnant(follow_up.referral_reasons), t)
        for name in _OUTCOME:
            if getattr(follow_up, name) != getattr(outcome, name):
                setattr(follow_up, name, getattr(outcome, name))
        previous = rules.Previous(on_target=outcome.on_target, adverse_reaction=follow_up.adverse_reaction)
    latest = follow_up
    db.session.flush()  # listeners read the visits as they now are
    if (schedule.next_due_on, schedule.urgent) == (latest.next_due_on, latest.urgent_referral):
        return
    db.session.execute(
        sa.update(Condition).where(Condition.id == visit.condition_id)
        .values(next_due_on=latest.next_due_on, urgent=latest.urgent_referral, updated_at=clock.utcnow())
        .execution_options(synchronize_session=False))
    if schedule.next_due_on != latest.next_due_on:
        _schedule_set(visit.condition_id, visit.resident_id, visit.disease, latest.next_due_on)


def _visit_of(follow_up: FollowUp) -> rules.Visit:
    """A stored visit's readings, as the rules take them."""
    return rules.Visit(
        disease=follow_up.disease, visited_on=follow_up.visited_on, sbp=follow_up.sbp, dbp=follow_up.dbp,
        heart_rate=follow_up.heart_rate, temperature_c=follow_up.temperature_c,
        fasting_glucose=follow_up.fasting_glucose, adverse_reaction=follow_up.adverse_reaction,
        complication=follow_up.complication, symptoms=tuple(follow_up.symptoms or ()),
        referred=follow_up.referral is not None,
    )


def follow_up_views(follow_ups: list[FollowUp], signer: Principal | None = None) -> list[dict]:
    """Follow-ups as FollowUpSchema shows them: each row's fields with its referral's state and
    result and the name of the doctor who signed it, read for the whole list at once (a visit
    without a referral section has no referral; ``signer``, who is known, is not read)."""
    ids = [f.id for f in follow_ups if f.referral is not None]
    referrals = {r.follow_up_id: r for r in db.session.scalars(
        sa.select(Referral).where(Referral.follow_up_id.in_(ids)))} if ids else {}
    names = {signer.id: signer.name} if signer is not None else {}
    signer_ids = {f.recorded_by_id for f in follow_ups if f.recorded_by_id} - set(names)
    if signer_ids:
        names.update(names_of(Staff, signer_ids))
    views = []
    for follow_up in follow_ups:
        view = {column.key: getattr(follow_up, column.key) for column in FollowUp.__table__.columns}
        referral = referrals.get(follow_up.id)
        view["referral"] = None if referral is None else {
            "id": referral.id, "reason": referral.reason, "department": referral.department,
            "institution": {"id": referral.to_institution_id, "name": referral.to_institution_name},
            "urgent": referral.urgent, "status": referral.status, "received_on": referral.received_on,
            "returned_on": referral.returned_on, "result": referral.result, "diagnosis": referral.diagnosis}
        view["signed_by"] = None if follow_up.recorded_by_id is None else {
            "id": follow_up.recorded_by_id, "name": names.get(follow_up.recorded_by_id, "")}
        views.append(view)
    return views


def follow_ups_of(resident_id: str, disease: str | None = None) -> sa.Select:
    statement = sa.select(FollowUp).where(FollowUp.resident_id == resident_id)
    if disease:
        statement = statement.where(FollowUp.disease == disease)
    return statement.order_by(FollowUp.visited_on.desc(), FollowUp.created_at.desc())


# Due lists

WINDOWS = ("overdue", "today", "week")
# The columns a due list is chosen, ordered and shown by.
DUE_KEYS = (Condition.id, Condition.urgent, Condition.next_due_on, Condition.resident_id, Condition.disease,
            Condition.last_follow_up_id)


def due_order(listed) -> tuple:
    """Urgent referrals first, then the longest overdue; ties in a fixed order, so pages do not
    shift."""
    return (listed.c.urgent.desc(), listed.c.next_due_on, listed.c.resident_id, listed.c.disease)


# Other domains add to each row of a due-list page, read in the page's one statement: given
# the page (a subquery of the DUE_KEYS columns), labelled correlated columns, or selects of
# labelled columns that yield at most one row for a page row (the latest of something); and the
# values of any parameters they bind, from the moment of the request. On PostgreSQL such a
# select is joined LATERAL, so that its columns cost one probe; elsewhere each of its columns
# is a correlated subquery.
DueColumns = Callable[[sa.Subquery], list[sa.ColumnElement | sa.Select]]
DueParams = Callable[[datetime], dict]
_due_columns: list[tuple[DueColumns, DueParams | None]] = []


def register_due_columns(columns: DueColumns, params: DueParams | None = None) -> None:
    _due_columns.append((columns, params))
    _due_statements.cache_clear()


def due(principal: Principal, scope_name: str, window: str,
        prefixes: frozenset[str] | None) -> sa.Select | sa.CompoundSelect:
    """The ``DUE_KEYS`` of the active conditions due in the window (relative to the bound
    ``today``), for residents in the caller's scope (unordered: see ``due_order``)."""
    today = sa.bindparam("today", type_=sa.Date)
    if window == "overdue":
        in_window = Condition.next_due_on < today
    elif window == "today":
        in_window = Condition.next_due_on == today
    else:
        in_window = sa.and_(Condition.next_due_on >= today,
                            Condition.next_due_on < sa.bindparam("week_end", type_=sa.Date))
    keys = sa.select(*DUE_KEYS).where(Condition.deregistered_on.is_(None), in_window)
    if scope_name == "mine":
        return keys.where(Condition.resident_id.in_(
            sa.select(Contract.resident_id).where(Contract.doctor_id == principal.id,
                                                  Contract.status.in_(written(LIVE_STATES)))))
    if prefixes is scope.ALL:
        return keys
    # The team's villages through the (region, due date) index, and the residents it holds
    # contracts with elsewhere: each part small, never the whole area's residents. The second
    # part keeps only conditions outside the villages, so the two never share a row and are
    # appended (UNION ALL) rather than merged.
    parts = [keys.where(scope.in_areas(Condition.region_code, prefixes))] if prefixes else []
    added = scope.added_ids(principal, set(prefixes))
    if added:
        elsewhere = keys.where(Condition.resident_id.in_(added[0] if len(added) == 1 else sa.union(*added)))
        if prefixes:
            elsewhere = elsewhere.where(sa.or_(Condition.region_code.is_(None),
                                               sa.not_(scope.in_areas(Condition.region_code, prefixes))))
        parts.append(elsewhere)
    if not parts:
        return keys.where(sa.false())
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


@functools.lru_cache(maxsize=128)
def _due_statements(principal: Principal, scope_name: str, window: str, prefixes: frozenset[str] | None,
                    postgresql: bool) -> tuple[sa.Select, sa.Select]:
    """A caller's due-list page statement and the ids it lists, built once per process for each scope
    (everything that decides the scope is in the key; the day, the page and the moment are
    bound when run). Building and hashing the scoped statement costs more than running it.
    On PostgreSQL the page statement also writes the page's access log."""
    listed = due(principal, scope_name, window, prefixes).subquery()
    chosen = sa.select(listed, sa.func.count().over().label("page_total")).order_by(*due_order(listed)) \
        .limit(sa.bindparam("limit", type_=sa.Integer)).offset(sa.bindparam("offset", type_=sa.Integer)).subquery()
    added, laterals = [], []
    for item in (item for columns, _ in _due_columns for item in columns(chosen)):
        if not isinstance(item, sa.Select):
            added.append(item)
        elif postgresql:
            laterals.append(item.lateral())
            added += list(laterals[-1].c)
        else:
            added += [item.with_only_columns(column).scalar_subquery().label(column.name)
                      for column in item.selected_columns]
    page = (
        sa.select(chosen, *added, Resident.name, Resident.phone_shown, Resident.phone_wrong,
                  Resident.region_code, Resident.birth_date, Region.name.label("region_name"), FollowUp.visited_on,
                  FollowUp.classification, FollowUp.sbp, FollowUp.dbp, FollowUp.fasting_glucose, FollowUp.refer,
                  FollowUp.urgent_referral)
        .join(Resident, Resident.id == chosen.c.resident_id)
        .outerjoin(Region, Region.code == Resident.region_code)
        .outerjoin(FollowUp, FollowUp.id == chosen.c.last_follow_up_id)
        .order_by(*due_order(chosen))
    )
    for joined in laterals:
        page = page.outerjoin(joined, sa.true())
    if postgresql:
        shown = page.cte("shown")
        page = sa.select(shown).add_cte(logging_reads(shown.c.resident_id)).order_by(*due_order(shown))
    return page, sa.select(listed.c.id)


def due_page(principal: Principal, scope_name: str, window: str, page: int, page_size: int, action: str) -> dict:
    """One page of the due list, its reads logged as ``action`` before it is returned.

    One statement: the page's conditions chosen (and the whole list counted) first, then each
    joined to the columns shown of its resident, the village's name, the latest visit and what
    other domains add (phones as stored masked: nothing is decrypted). On PostgreSQL the same
    statement writes the access log; elsewhere it is written next."""
    prefixes = None if scope_name == "mine" else scope.area_prefixes(principal)
    postgresql = on_postgresql()
    statement, listed = _due_statements(principal, scope_name, window,
                                       None if prefixes is None else frozenset(prefixes), postgresql)
    today, now = clock.today(), clock.now()
    params = {"today": today, "week_end": today + timedelta(days=7), "limit": page_size,
              "offset": (page - 1) * page_size}
    for _, values in _due_columns:
        params.update(values(now) if values else {})
    if postgresql:
        rows = logged_read(statement, params, principal, action)
    else:
        rows = db.session.execute(statement, params).all()
        record_access(principal, [row.resident_id for row in rows], action)
    return {"items": rows, "page": page, "page_size": page_size, "total": page_total(rows, listed, page, params)}


def next_follow_ups(conditions: list[Condition], today: date) -> list[dict]:
    return [
        {"disease": c.disease, "due_on": c.next_due_on, "days_overdue": max(0, (today - c.next_due_on).days),
         "urgent": c.urgent}
        for c in sorted(conditions, key=lambda c: c.next_due_on) if c.deregistered_on is None
    ]
