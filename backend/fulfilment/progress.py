"""Contract fulfilment (履约) computed in the database: for a set of contracts, one row per
item with what it owes, what it owed by a day and what was delivered, counted exactly as
fulfilment.service counts them (recorded services, face-to-face visit days of the item's
disease, health-check days for the health-check item). The statistics group these rows by
region and team.

What each item of an active contract delivered is also kept on the item, and how far the
contract is behind on the contract for a day: every write that can change them counts them
again in its own transaction (``_count_after_writes``), and the nightly job takes the new day's
``behind_by``. The team's work list reads those and pages in SQL, so a team of ten thousand
contracts is one range of its contracts, never loaded into Python whole."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from backend import clock
from backend.contracts.models import Contract, ContractItem
from backend.exams.models import HealthCheck
from backend.extensions import db, on_postgresql
from backend.followups.models import FollowUp
from backend.fulfilment import rules
from backend.fulfilment.models import ServiceDelivery

CHUNK = 5_000  # residents per statement, well under the database drivers' bind-parameter limits


def days_from(start, end):
    """Whole days from ``start`` to ``end`` (date columns, or a date), in the database's own
    arithmetic."""
    if isinstance(end, date):
        end = sa.literal(end, sa.Date)
    if on_postgresql():
        return end - start
    return sa.cast(sa.func.julianday(end) - sa.func.julianday(start), sa.Integer)


def term_columns(day: date) -> list:
    """The columns ``item_rows`` needs of each held contract beside its id, resident and start:
    the days of its term passed by ``day`` (``day`` counted) and the days in its term."""
    return [(days_from(Contract.start_date, day) + 1).label("passed"),
            (days_from(Contract.start_date, Contract.end_date) + 1).label("term")]


def _visits_counted(resident_id, start, day: date) -> list:
    """The follow-ups that count as visits of a contract's resident from ``start`` up to ``day``
    (face to face; a day counts once per disease)."""
    return [FollowUp.resident_id == resident_id, FollowUp.method.in_(rules.FACE_TO_FACE),
            FollowUp.visited_on >= start, FollowUp.visited_on <= day]


def _checks_counted(resident_id, start, day: date) -> list:
    return [HealthCheck.resident_id == resident_id, HealthCheck.checked_on >= start, HealthCheck.checked_on <= day]


def _services_counted(resident_id, start, day: date) -> list:
    return [ServiceDelivery.resident_id == resident_id, ServiceDelivery.delivered_on >= start,
            ServiceDelivery.delivered_on <= day]


def _owed_by(passed, term):
    """What an item owed by the day its contract's ``passed`` (days of the term passed, that day
    counted) was counted to, of a term of ``term`` days."""
    return ContractItem.owed * sa.case((passed > term, term), else_=passed) // term


def item_rows(held, day, *columns) -> sa.Select:
    """One row per item of every contract in ``held`` (a CTE of contracts in force on ``day``
    with columns id, resident_id, start_date and ``term_columns``): the contract id, the given
    ``columns`` of ``held``, the item's code, name and owed count, what it owed by ``day`` and
    what was delivered from the contract's start up to ``day`` (a date, or a column of ``held``
    such as its end)."""
    services = (
        sa.select(held.c.id.label("contract_id"), ServiceDelivery.item_code.label("code"),
                  sa.func.count().label("n"))
        .join(ServiceDelivery, sa.and_(*_services_counted(held.c.resident_id, held.c.start_date, day)))
        .group_by(held.c.id, ServiceDelivery.item_code)
        .subquery()
    )
    visits = (
        sa.select(held.c.id.label("contract_id"), FollowUp.disease.label("disease"),
                  sa.func.count(sa.distinct(FollowUp.visited_on)).label("n"))
        .join(FollowUp, sa.and_(*_visits_counted(held.c.resident_id, held.c.start_date, day)))
        .group_by(held.c.id, FollowUp.disease)
        .subquery()
    )
    checks = (
        sa.select(held.c.id.label("contract_id"), sa.func.count(sa.distinct(HealthCheck.checked_on)).label("n"))
        .join(HealthCheck, sa.and_(*_checks_counted(held.c.resident_id, held.c.start_date, day)))
        .group_by(held.c.id)
        .subquery()
    )
    delivered = sa.case((ContractItem.follow_up_disease.is_not(None), sa.func.coalesce(visits.c.n, 0)),
                        (ContractItem.health_check.is_(True), sa.func.coalesce(checks.c.n, 0)),
                        else_=sa.func.coalesce(services.c.n, 0))
    return (
        _items_of(held, columns, delivered)
        .outerjoin(services, sa.and_(services.c.contract_id == held.c.id, services.c.code == ContractItem.code))
        .outerjoin(visits, sa.and_(visits.c.contract_id == held.c.id,
                                   visits.c.disease == ContractItem.follow_up_disease))
        .outerjoin(checks, checks.c.contract_id == held.c.id)
    )


def delivered_after(day: date) -> bool:
    """Whether any delivery (a visit, a health check, a service) is dated after ``day``: none is
    for today, since the writes refuse later days; a run back-dated to an earlier day (``run-job
    --now``) finds those recorded since. Three probes that stop at the first row found (visits
    and checks through their date indexes)."""
    return any(db.session.scalar(sa.select(sa.exists().where(column > day)))
               for column in (FollowUp.visited_on, HealthCheck.checked_on, ServiceDelivery.delivered_on))


def kept_item_rows(held, *columns) -> sa.Select:
    """``item_rows`` for today, with what was delivered read from the count kept on each item
    (the deliveries of the contract's term, which are today's when nothing is dated after
    today) instead of counted from the deliveries."""
    return _items_of(held, columns, ContractItem.delivered)


def _items_of(held, columns, delivered) -> sa.Select:
    """The rows of ``item_rows``, with ``delivered`` as what was delivered of each item."""
    return (
        sa.select(held.c.id.label("contract_id"), *columns, ContractItem.code, ContractItem.name, ContractItem.owed,
                  _owed_by(held.c.passed, held.c.term).label("owed_by"), delivered.label("delivered"))
        .join(ContractItem, ContractItem.contract_id == held.c.id)
    )


def _delivered_in_term() -> sa.Case:
    """What was delivered of a contract item (``ContractItem`` beside its ``Contract``) within the
    contract's term, as ``item_rows`` counts it; through each item's own index (the resident's
    visits of the item's disease, health checks, or services of the item's code)."""
    start, end = Contract.start_date, Contract.end_date
    visits = sa.select(sa.func.count(sa.distinct(FollowUp.visited_on))).where(
        *_visits_counted(Contract.resident_id, start, end),
        FollowUp.disease == ContractItem.follow_up_disease).scalar_subquery()
    checks = sa.select(sa.func.count(sa.distinct(HealthCheck.checked_on))).where(
        *_checks_counted(Contract.resident_id, start, end)).scalar_subquery()
    services = sa.select(sa.func.count()).select_from(ServiceDelivery).where(
        *_services_counted(Contract.resident_id, start, end),
        ServiceDelivery.item_code == ContractItem.code).scalar_subquery()
    return sa.case((ContractItem.follow_up_disease.is_not(None), visits),
                   (ContractItem.health_check.is_(True), checks), else_=services)


def count_delivered(day: date) -> sa.Update:
    """Count what was delivered of every item of the active contracts within their terms, in one
    grouped statement (``item_rows``, counted up to each contract's end), and store it where it
    differs: for a bulk load (bench/generate). A write counts its own residents' (``_count_again``)."""
    held = sa.select(Contract.id, Contract.resident_id, Contract.start_date, Contract.end_date,
                     *term_columns(day)).where(Contract.status == "active", Contract.start_date.is_not(None)).cte("held")
    rows = item_rows(held, held.c.end_date).subquery()
    return sa.update(ContractItem).values(delivered=rows.c.delivered).where(
        ContractItem.contract_id == rows.c.contract_id, ContractItem.code == rows.c.code,
        ContractItem.delivered != rows.c.delivered)


DELIVERIES = (FollowUp, HealthCheck, ServiceDelivery)
# A contract whose status, term or items change is counted again (its items are set after
# signing by owe_items, which the demo calls on contracts already stored).
_CONTRACT_COUNTED_BY = ("status", "start_date", "end_date", "items")


def _count_after_writes(session: Session, _context) -> None:
    """Every flush that records a delivery, or makes a contract active, moves its term or sets
    its items, counts the deliveries of its resident's active contracts again, in the same
    transaction: the stored counts cannot miss a write made through the models (the API, the
    imports, the demo)."""
    resident_ids = {o.resident_id for o in session.new if isinstance(o, DELIVERIES)
                    or isinstance(o, Contract) and o.status == "active"}
    resident_ids |= {o.resident_id for o in session.dirty if isinstance(o, Contract)
                     and o.status == "active" and _counted_by_changed(o)}
    if not resident_ids:
        return
    connection, today = session.connection(), clock.today()
    ids = sorted(resident_ids)
    # What each flush changed, by the identity of the item or contract holding it.
    changed = session.info.setdefault("counts_changed", {})
    for i in range(0, len(ids), CHUNK):
        items, contracts = _count_again(connection, ids[i:i + CHUNK], today)
        changed.update({identity_key(ContractItem, key): ["delivered"] for key in items})
        changed.update({identity_key(Contract, (c,)): ["behind_by", "behind_on"] for c in contracts})


COUNTING_LOCK = 0x4A49_4445  # "JIDE": the advisory locks (one per resident) of the counts kept
_LOCK_RESIDENTS = sa.text("SELECT count(pg_advisory_xact_lock(:key, hashtext(id))) "
                          "FROM (SELECT unnest(CAST(:ids AS text[])) AS id ORDER BY 1) AS residents")
_ITEMS = ContractItem.__table__
_CONTRACTS = Contract.__table__
_SET_DELIVERED = sa.update(_ITEMS).where(_ITEMS.c.contract_id == sa.bindparam("c"), _ITEMS.c.code == sa.bindparam("k")) \
    .values(delivered=sa.bindparam("n"))
# Not a change of the contract: its updated_at (by which the phones sync it) stays.
_SET_BEHIND = sa.update(_CONTRACTS).where(_CONTRACTS.c.id == sa.bindparam("c")) \
    .values(behind_by=sa.bindparam("b"), behind_on=sa.bindparam("on"), updated_at=_CONTRACTS.c.updated_at)


# Built once: a statement built for each write costs more to key for the statement cache (about
# 1.5 ms) than to run.
_COUNTS_OF_RESIDENTS = (
    sa.select(Contract.id, Contract.start_date, Contract.end_date, Contract.behind_on, Contract.behind_by,
              ContractItem.code, ContractItem.owed, ContractItem.delivered, _delivered_in_term().label("counted"))
    .join(ContractItem, ContractItem.contract_id == Contract.id)
    .where(Contract.resident_id.in_(sa.bindparam("resident_ids", expanding=True)), Contract.status == "active",
           Contract.start_date.is_not(None)))


def _count_again(connection: sa.Connection, resident_ids: list[str], today: date) -> tuple[list, set]:
    """Count what the active contracts of ``resident_ids`` delivered, and how far each in force
    today is behind; write the items and contracts whose figures changed. Returns the changed
    items' keys (contract id, code) and the contracts whose ``behind_by`` changed."""
    # Each resident is locked first, in a statement of its own: a write of the same resident at
    # the same moment waits here until this one commits, and then counts with what this one
    # wrote (a statement that waited for a row lock instead would count with what it saw before
    # the wait, and lose this write's visit). An advisory lock for the transaction: no row is
    # written for it. SQLite writes one at a time anyway.
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_RESIDENTS, {"key": COUNTING_LOCK, "ids": resident_ids})
    rows = connection.execute(_COUNTS_OF_RESIDENTS, {"resident_ids": resident_ids}).all()
    items = [{"c": r.id, "k": r.code, "n": r.counted} for r in rows if r.delivered != r.counted]
    if items:
        connection.execute(_SET_DELIVERED, items)
    behind: dict[str, int] = {}
    for r in rows:
        if r.start_date <= today <= r.end_date:
            state = rules.item_state(r.code, "", r.owed, r.counted, r.start_date, r.end_date, today)
            behind[r.id] = behind.get(r.id, 0) + state.behind_by
    stale = {r.id for r in rows if r.id in behind and (r.behind_on, r.behind_by) != (today, behind[r.id])}
    if stale:
        connection.execute(_SET_BEHIND, [{"c": c, "b": behind[c], "on": today} for c in sorted(stale)])
    return [(i["c"], i["k"]) for i in items], stale


def _counted_by_changed(contract: Contract) -> bool:
    attributes = sa.inspect(contract).attrs
    return any(attributes[name].history.has_changes() for name in _CONTRACT_COUNTED_BY)


def _forget_counts_read(session: Session, _context) -> None:
    """Items and contracts this session already loaded whose counts a flush changed read them
    again from the database."""
    for key, names in session.info.pop("counts_changed", {}).items():
        loaded = session.identity_map.get(key)
        if loaded is not None:
            session.expire(loaded, names)


def keep_counts() -> None:
    """Have every session keep the counts: after each flush that can change them, and the
    loaded objects' stale figures forgotten after it (once, however many apps are made)."""
    for name, listener in (("after_flush", _count_after_writes),
                           ("after_flush_postexec", _forget_counts_read)):
        if not sa.event.contains(Session, name, listener):
            sa.event.listen(Session, name, listener)


def behind_by_on(day: date) -> sa.ScalarSelect:
    """How far a contract (``Contract``, in force on ``day``) is behind on ``day``: what its items
    owed by then less what was delivered, as stored on them, summed over the items behind."""
    passed, term = (column.element for column in term_columns(day))
    lag = _owed_by(passed, term) - ContractItem.delivered
    return sa.select(sa.func.coalesce(sa.func.sum(sa.case((lag > 0, lag), else_=0)), 0)) \
        .where(ContractItem.contract_id == Contract.id).scalar_subquery()


def count_behind(day: date) -> sa.Update:
    """Store how far each active contract in force on ``day`` is behind on ``day``
    (``Contract.behind_by``, ``behind_on``), from what its items keep: the nightly job's count
    for the day (a write takes its own contracts' figure by the same rules, ``_count_again``),
    so that the team's work list reads it from the contract row."""
    # Not a change of the contract: its updated_at (by which the phones sync it) stays.
    return sa.update(Contract).values(behind_by=behind_by_on(day), behind_on=day,
                                      updated_at=Contract.updated_at).where(
        Contract.status == "active", Contract.start_date <= day, Contract.end_date >= day)


def count_behind_for(day: date) -> int:
    """The nightly part: how far each active contract in force on ``day`` is behind, for those
    not yet counted for ``day``; team by team, each in a transaction of its own (a county's
    largest team takes about a second), so no contract stays locked long. Returns how many."""
    counted = 0
    teams = db.session.scalars(sa.select(Contract.team_id).where(Contract.status == "active").distinct()).all()
    for team_id in teams:
        counted += db.session.execute(count_behind(day).where(
            Contract.team_id == team_id, sa.or_(Contract.behind_on.is_(None), Contract.behind_on != day))).rowcount
        db.session.commit()
    return counted


def work_list_page(team_id: str, kind: str, today: date, ending_by: date, page: int,
                   page_size: int) -> tuple[int, list[str]]:
    """The team's active contracts in force today that are behind (``behind``: most behind
    first) or end by ``ending_by`` with items still owed (``ending``: soonest first), as (how
    many in all, the ids of the asked page in order). Grouped, filtered, sorted and paged in
    one statement."""
    where = [Contract.team_id == team_id, Contract.status == "active", Contract.start_date <= today,
             Contract.end_date >= today]
    if kind == "ending":
        where.append(Contract.end_date <= ending_by)
    else:
        # A contract whose most owed item owes nothing yet cannot be behind (its term runs to
        # today or later, so the days passed are at most the term's).
        passed, term = (column.element for column in term_columns(today))
        where.append(sa.or_(Contract.most_owed.is_(None), Contract.most_owed * passed >= term))
    if kind == "behind":
        # As stored for today (by the nightly job, or by the writes since), else counted now.
        behind_by = sa.case((Contract.behind_on == today, Contract.behind_by), else_=behind_by_on(today))
        # OFFSET 0 keeps the rows a subquery of their own: a contract counted now is counted once,
        # not once for the filter and again for the order.
        per_contract = sa.select(Contract.id.label("contract_id"), Contract.end_date,
                                 behind_by.label("behind_by")).where(*where).offset(0).subquery()
        chosen = per_contract.c.behind_by > 0
        order = (per_contract.c.behind_by.desc(), per_contract.c.end_date, per_contract.c.contract_id)
    else:
        held = sa.select(Contract.id, Contract.end_date).where(*where).subquery()
        short = ContractItem.owed - ContractItem.delivered
        per_contract = (
            sa.select(held.c.id.label("contract_id"), sa.func.max(held.c.end_date).label("end_date"),
                      sa.func.sum(sa.case((short > 0, short), else_=0)).label("remaining"))
            .join(ContractItem, ContractItem.contract_id == held.c.id)
            .group_by(held.c.id)
            .subquery()
        )
        chosen = per_contract.c.remaining > 0
        order = (per_contract.c.end_date, per_contract.c.remaining.desc(), per_contract.c.contract_id)
    found = db.session.execute(
        sa.select(per_contract.c.contract_id, sa.func.count().over().label("total"))
        .where(chosen).order_by(*order).limit(page_size).offset((page - 1) * page_size)
    ).all()
    if found:
        return found[0].total, [r.contract_id for r in found]
    if page == 1:
        return 0, []
    # A page past the end still reports the total.
    total = db.session.scalar(sa.select(sa.func.count()).select_from(per_contract).where(chosen))
    return total, []
