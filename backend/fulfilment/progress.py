"""Contract fulfilment (履约) computed in the database: for a set of contracts, one row per
item with what it owes, what it owed by a day and what was delivered, counted exactly as
fulfilment.service counts them (recorded services, face-to-face visit days of the item's
disease, health-check days for the health-check item). The statistics group these rows by
region and team; the team's work list groups them by contract and pages them in SQL, so a
team of ten thousand contracts is never loaded into Python whole."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from backend.contracts.models import Contract, ContractItem
from backend.exams.models import HealthCheck
from backend.extensions import db, on_postgresql
from backend.followups.models import FollowUp
from backend.fulfilment import rules
from backend.fulfilment.models import ServiceDelivery


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


def _owed_by(held):
    """What an item of a contract in ``held`` owed by the day its ``passed`` was counted to."""
    passed = sa.case((held.c.passed > held.c.term, held.c.term), else_=held.c.passed)
    return ContractItem.owed * passed // held.c.term


def item_rows(held, day: date, *columns) -> sa.Select:
    """One row per item of every contract in ``held`` (a CTE of contracts in force on ``day``
    with columns id, resident_id, start_date and ``term_columns``): the contract id, the given
    ``columns`` of ``held``, the item's code, name and owed count, what it owed by ``day`` and
    what was delivered from the contract's start up to ``day``."""
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
        sa.select(held.c.id.label("contract_id"), *columns, ContractItem.code, ContractItem.name, ContractItem.owed,
                  _owed_by(held).label("owed_by"), delivered.label("delivered"))
        .join(ContractItem, ContractItem.contract_id == held.c.id)
        .outerjoin(services, sa.and_(services.c.contract_id == held.c.id, services.c.code == ContractItem.code))
        .outerjoin(visits, sa.and_(visits.c.contract_id == held.c.id,
                                   visits.c.disease == ContractItem.follow_up_disease))
        .outerjoin(checks, checks.c.contract_id == held.c.id)
    )


def lag_rows(held, day: date) -> sa.Select:
    """One row per item of every contract in ``held`` (as for ``item_rows``) that owed something
    by ``day``: the contract id, its end date and how far the item is behind (owed by ``day``
    less delivered; negative when ahead). What was delivered is looked up for those items
    alone, each through its own index (the resident's visits of the item's disease, health
    checks or services of the item's code): a team's work list asks this of ten thousand
    contracts, most of whose items owe nothing yet or need a single probe."""
    visits = sa.select(sa.func.count(sa.distinct(FollowUp.visited_on))).where(
        *_visits_counted(held.c.resident_id, held.c.start_date, day),
        FollowUp.disease == ContractItem.follow_up_disease).scalar_subquery()
    checks = sa.select(sa.func.count(sa.distinct(HealthCheck.checked_on))).where(
        *_checks_counted(held.c.resident_id, held.c.start_date, day)).scalar_subquery()
    services = sa.select(sa.func.count()).select_from(ServiceDelivery).where(
        *_services_counted(held.c.resident_id, held.c.start_date, day),
        ServiceDelivery.item_code == ContractItem.code).scalar_subquery()
    delivered = sa.case((ContractItem.follow_up_disease.is_not(None), visits),
                        (ContractItem.health_check.is_(True), checks), else_=services)
    owed_by = _owed_by(held)
    return (
        sa.select(held.c.id.label("contract_id"), held.c.end_date, (owed_by - delivered).label("lag"))
        .join(ContractItem, ContractItem.contract_id == held.c.id)
        .where(owed_by > 0)
    )


def delivered_by_item(contract_id: str, day: date) -> dict[str, int]:
    """What was delivered of each item of a contract in force on ``day``, from its start up to
    ``day``."""
    held = sa.select(Contract.id, Contract.resident_id, Contract.start_date, *term_columns(day)) \
        .where(Contract.id == contract_id).cte("held")
    rows = item_rows(held, day).subquery()
    return dict(db.session.execute(sa.select(rows.c.code, rows.c.delivered)).tuples().all())


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
    held = sa.select(Contract.id, Contract.resident_id, Contract.start_date, Contract.end_date,
                     *term_columns(today)).where(*where).cte("held")
    if kind == "behind":
        # Only the items that owed something by today can be behind. OFFSET 0 keeps the rows a
        # subquery of their own, so that each item's lookups run once, not once per use of its lag.
        rows = lag_rows(held, today).offset(0).subquery()
        lag = rows.c.lag
        per_contract = (
            sa.select(rows.c.contract_id, sa.func.max(rows.c.end_date).label("end_date"),
                      sa.func.sum(sa.case((lag > 0, lag), else_=0)).label("behind_by"))
            .group_by(rows.c.contract_id)
            .subquery()
        )
        chosen = per_contract.c.behind_by > 0
        order = (per_contract.c.behind_by.desc(), per_contract.c.end_date, per_contract.c.contract_id)
    else:
        rows = item_rows(held, today, held.c.end_date).subquery()
        short = rows.c.owed - rows.c.delivered
        per_contract = (
            sa.select(rows.c.contract_id, sa.func.max(rows.c.end_date).label("end_date"),
                      sa.func.sum(sa.case((short > 0, short), else_=0)).label("remaining"))
            .group_by(rows.c.contract_id)
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
