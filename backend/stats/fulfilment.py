"""Fulfilment (履约) statistics: the fulfilment rate by region and team, item delivery rates,
and the calls made from the call lists.

fulfilment rate on D = contracted residents on D whose contract is on track or complete on D
÷ contracted residents on D (contracted as in the coverage indicator). An item's delivery
rate = what was delivered of what its contracts owed by D (each contract's deliveries counted
up to what it owed by D) ÷ what they owed by D.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract
from backend.directory.models import Team
from backend.extensions import db
from backend.fulfilment import progress
from backend.fulfilment.models import OUTCOMES, Call
from backend.residents.models import Resident
from backend.stats.service import Area, Live, contracted_on, rate, region_ref, team_rows


def _item_rows(a: Area, day: date, kept: bool = False):
    """One row per item of every contract held on ``day`` in the region (fulfilment.progress'
    rows, with the contract's team and region bucket); a contract held on D had not ended
    before D, so its deliveries count from its start up to D.

    ``kept``: what was delivered is read from the counts kept on the items (the deliveries in
    the contract's whole term) instead of counted from the deliveries: the same figures when no
    delivery is dated after ``day`` (``progress.delivered_after``), as for today."""
    held = (
        sa.select(Contract.id, Contract.resident_id, Contract.team_id, Contract.start_date,
                  a.bucket(Contract.region_code).label("bucket"), *progress.term_columns(day))
        .where(Contract.region_code.like(a.prefix + "%"), contracted_on(day))
        .cte("held")
    )
    if kept:
        return progress.kept_item_rows(held, held.c.team_id, held.c.bucket), held
    return progress.item_rows(held, day, held.c.team_id, held.c.bucket), held


def _empty() -> dict:
    return {"contracted": 0, "statuses": Counter()}


def _block(counts: dict) -> dict:
    statuses = counts["statuses"]
    n = counts["contracted"]
    return {"contracted": n, "on_track": statuses["on_track"], "complete": statuses["complete"],
            "behind": statuses["behind"], "fulfilment_rate": rate(statuses["on_track"] + statuses["complete"], n)}


def fulfilment_counts(a: Area, day: date, kept: bool = False) -> tuple[list[tuple], list[tuple]]:
    """The contracts held on ``day`` as rows (bucket, team id, status, n), and their items as
    rows (bucket, item code, item name, contracts, owed, owed by the day, delivered, delivered
    of what was owed by the day). The statuses are fulfilment.rules' (complete: every item
    delivered in full; behind: an item short of what it owed by the day; else on track),
    computed per contract in the database. ``kept``: from the counts kept on the items
    (``_item_rows``), when they are the day's: for a day after which nothing was delivered."""
    rows, held = _item_rows(a, day, kept and not progress.delivered_after(day))
    rows = rows.subquery()
    per_contract = (
        sa.select(rows.c.contract_id,
                  sa.func.min(sa.case((rows.c.delivered >= rows.c.owed, 1), else_=0)).label("done"),
                  sa.func.max(sa.case((rows.c.delivered < rows.c.owed_by, 1), else_=0)).label("behind"))
        .group_by(rows.c.contract_id)
        .subquery()
    )
    # A contract that owes no item (no row in per_contract) has nothing outstanding: complete.
    status = sa.case((per_contract.c.contract_id.is_(None), "complete"), (per_contract.c.done == 1, "complete"),
                     (per_contract.c.behind == 1, "behind"), else_="on_track")
    statuses = [(a.code_of_bucket(bucket), team_id, state, n) for bucket, team_id, state, n in db.session.execute(
        sa.select(held.c.bucket, held.c.team_id, status, sa.func.count())
        .outerjoin(per_contract, per_contract.c.contract_id == held.c.id)
        .group_by(held.c.bucket, held.c.team_id, status)
    )]
    items = [
        (a.code_of_bucket(bucket), code, name, n, int(owed), int(owed_by), int(delivered), int(counted))
        for bucket, code, name, n, owed, owed_by, delivered, counted in db.session.execute(
            sa.select(rows.c.bucket, rows.c.code, sa.func.max(rows.c.name), sa.func.count(), sa.func.sum(rows.c.owed),
                      sa.func.sum(rows.c.owed_by), sa.func.sum(rows.c.delivered),
                      sa.func.sum(sa.case((rows.c.delivered < rows.c.owed_by, rows.c.delivered),
                                          else_=rows.c.owed_by)))
            .group_by(rows.c.bucket, rows.c.code))
    ]
    return statuses, items


def fulfilment_stats(a: Area, day: date, source=None) -> dict:
    statuses, item_rows = (source or Live()).fulfilment(a, day)
    by_bucket: dict[str, dict] = defaultdict(_empty)
    by_team: dict[str, dict] = defaultdict(_empty)
    total = _empty()
    for code, team_id, state, n in statuses:
        for counts in (by_bucket[code], by_team[team_id], total):
            counts["contracted"] += n
            counts["statuses"][state] += n
    per_item: dict[str, dict] = {}
    for _, code, name, n, owed, owed_by, delivered, counted in item_rows:
        item = per_item.setdefault(code, {"code": code, "name": name, "contracts": 0, "owed": 0, "owed_by_today": 0,
                                          "delivered": 0, "delivered_of_owed_by_today": 0})
        item["name"] = max(item["name"], name)
        for field, value in (("contracts", n), ("owed", owed), ("owed_by_today", owed_by), ("delivered", delivered),
                             ("delivered_of_owed_by_today", counted)):
            item[field] += value
    items = [{**item, "delivery_rate": rate(item["delivered_of_owed_by_today"], item["owed_by_today"])}
             for _, item in sorted(per_item.items())]

    teams = {t.id: t for t in db.session.execute(team_rows().where(Team.id.in_(list(by_team))))}
    return {
        "region": region_ref(a.region), "as_of": day, **_block(total), "items": items,
        "children": [{"region": region_ref(child), "as_of": day, **_block(by_bucket.get(child.code, _empty()))}
                     for child in a.children],
        "teams": sorted(({"team": {"id": t, "name": teams[t].name},
                          "institution": {"id": teams[t].institution_id, "name": teams[t].institution_name},
                          **_block(counts)} for t, counts in by_team.items()),
                        key=lambda r: (r["team"]["name"], r["team"]["id"])),
    }


def call_stats(a: Area, first: date, last: date) -> dict:
    """Calls made to residents of the region between two days (inclusive), per team and outcome."""
    start = datetime.combine(first, time.min, tzinfo=clock.CIVIL_TZ)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=clock.CIVIL_TZ)
    rows = db.session.execute(
        sa.select(Call.team_id, Call.outcome, sa.func.count())
        .join(Resident, Resident.id == Call.resident_id)
        .where(Resident.region_code.like(a.prefix + "%"), Call.called_at >= start, Call.called_at < end)
        .group_by(Call.team_id, Call.outcome)
    ).all()
    per_team: dict[str | None, Counter] = defaultdict(Counter)
    for team_id, outcome, n in rows:
        per_team[team_id][outcome] += n
    teams = dict(db.session.execute(
        sa.select(Team.id, Team.name).where(Team.id.in_([t for t in per_team if t]))).tuples().all())
    everything: Counter = Counter()
    for counts in per_team.values():
        everything.update(counts)

    def outcomes(counts: Counter) -> dict:
        return {o: counts.get(o, 0) for o in OUTCOMES}

    return {
        "region": region_ref(a.region),
        "from": first, "to": last, "calls": sum(everything.values()), "outcomes": outcomes(everything),
        "teams": sorted(({"team": None if t is None else {"id": t, "name": teams.get(t)},
                          "calls": sum(c.values()), "outcomes": outcomes(c)} for t, c in per_team.items()),
                        key=lambda r: ("" if r["team"] is None else r["team"]["name"] or "")),
    }
