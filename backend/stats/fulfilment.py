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
from backend.directory.models import Institution, Team
from backend.extensions import db
from backend.fulfilment import service as fulfilment
from backend.fulfilment.models import OUTCOMES, Call
from backend.residents.models import Resident
from backend.stats.service import Area, contracted_on, rate


def _contracts_on(a: Area, day: date) -> list[tuple[Contract, str]]:
    """Each resident's contract in force on ``day`` with the child region it counts in."""
    rows = db.session.execute(
        sa.select(Contract, a.bucket(Contract.region_code))
        .where(Contract.region_code.like(a.prefix + "%"), contracted_on(day))
        .order_by(Contract.resident_id, Contract.start_date.desc())
    ).all()
    seen: set[str] = set()
    found = []
    for contract, bucket in rows:
        if contract.resident_id not in seen:
            seen.add(contract.resident_id)
            found.append((contract, a.code_of_bucket(bucket)))
    return found


def _empty() -> dict:
    return {"contracted": 0, "statuses": Counter()}


def _block(counts: dict) -> dict:
    statuses = counts["statuses"]
    n = counts["contracted"]
    return {"contracted": n, "on_track": statuses["on_track"], "complete": statuses["complete"],
            "behind": statuses["behind"], "fulfilment_rate": rate(statuses["on_track"] + statuses["complete"], n)}


def fulfilment_stats(a: Area, day: date) -> dict:
    held = _contracts_on(a, day)
    views = fulfilment.views_of([c for c, _ in held], day)
    by_bucket: dict[str, dict] = defaultdict(_empty)
    by_team: dict[str, dict] = defaultdict(_empty)
    items: dict[str, dict] = {}
    total = _empty()
    for contract, bucket in held:
        view = views[contract.id]
        for counts in (by_bucket[bucket], by_team[contract.team_id], total):
            counts["contracted"] += 1
            counts["statuses"][view["status"]] += 1
        for item in view["items"]:
            row = items.setdefault(item["code"], {"code": item["code"], "name": item["name"], "contracts": 0,
                                                  "owed": 0, "owed_by_today": 0, "delivered": 0,
                                                  "delivered_of_owed_by_today": 0})
            row["contracts"] += 1
            row["owed"] += item["owed"]
            row["owed_by_today"] += item["owed_by_today"]
            row["delivered"] += item["delivered"]
            row["delivered_of_owed_by_today"] += min(item["delivered"], item["owed_by_today"])
    for row in items.values():
        row["delivery_rate"] = rate(row["delivered_of_owed_by_today"], row["owed_by_today"])

    region = lambda r: {"code": r.code, "name": r.name, "level": r.level}  # noqa: E731
    teams = {t.id: t for t in db.session.scalars(sa.select(Team).where(Team.id.in_(list(by_team))))}
    institutions = {i.id: i.name for i in db.session.scalars(
        sa.select(Institution).where(Institution.id.in_({t.institution_id for t in teams.values()})))}
    return {
        "region": region(a.region), "as_of": day, **_block(total),
        "items": sorted(items.values(), key=lambda r: r["code"]),
        "children": [{"region": region(child), "as_of": day, **_block(by_bucket.get(child.code, _empty()))}
                     for child in a.children],
        "teams": sorted(({"team": {"id": t, "name": teams[t].name},
                          "institution": {"id": teams[t].institution_id, "name": institutions.get(teams[t].institution_id)},
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
    teams = {t.id: t.name for t in db.session.scalars(
        sa.select(Team).where(Team.id.in_([t for t in per_team if t])))}
    everything: Counter = Counter()
    for counts in per_team.values():
        everything.update(counts)

    def outcomes(counts: Counter) -> dict:
        return {o: counts.get(o, 0) for o in OUTCOMES}

    return {
        "region": {"code": a.region.code, "name": a.region.name, "level": a.region.level},
        "from": first, "to": last, "calls": sum(everything.values()), "outcomes": outcomes(everything),
        "teams": sorted(({"team": None if t is None else {"id": t, "name": teams.get(t)},
                          "calls": sum(c.values()), "outcomes": outcomes(c)} for t, c in per_team.items()),
                        key=lambda r: ("" if r["team"] is None else r["team"]["name"] or "")),
    }
