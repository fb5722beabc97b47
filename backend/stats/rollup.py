"""The reporting tables behind the statistics: each county's counts on a day, kept by a refresh.

A snapshot holds, for one county and one day, every count the statistics are built from, at the
finest grain they are asked at: per village (the region code of the counted rows), and per team
where a figure is a team's. It is computed by the very functions that compute the statistics
live (backend/stats/service.py, fulfilment.py), asked for a county whose buckets are its
villages, so that a region's figure read from the snapshot (its villages' cells added up) is the
live figure of the moment the snapshot was taken.

Which days are kept:
- today, refreshed by the scheduler's ``refresh-statistics`` job whenever a county's records
  changed since its snapshot (the ``updated_at`` of its residents, conditions, follow-ups,
  contracts, services and health checks, and residents who moved away);
- the end of each of the last ``MONTHS_KEPT`` months, frozen: taken at the first refresh after
  the month ended, and never recomputed after that unless a rebuild is asked for
  (``flask --app wsgi rollup --full``). A figure reported for October stays as reported.
Any other day is computed live.

A snapshot is written in one transaction with its cells, so a reader sees the whole snapshot or
the one before it; a refresh that dies leaves the previous one. One refresh runs at a time (an
advisory lock on PostgreSQL, a lease row elsewhere); a second one finds it taken and returns.
"""
from __future__ import annotations

import logging
import os
import socket
import time as timer
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract
from backend.directory.models import GROUPS, Region
from backend.directory.regions import prefix_of
from backend.exams.models import HealthCheck
from backend.extensions import db, on_postgresql
from backend.followups.models import Condition, FollowUp
from backend.followups.rules import DISEASES
from backend.fulfilment.models import ServiceDelivery
from backend.residents.models import Resident
from backend.stats.fulfilment import fulfilment_counts
from backend.stats.models import StatCell, StatSnapshot
from backend.stats.service import CHILD_PREFIX, Area, Live, teams_of
from backend.sync.models import ResidentMove

log = logging.getLogger("jiayi.rollup")

MONTHS_KEPT = 12
LOCK_KEY = 0x4A49_5354  # "JIST": the advisory lock of the statistics refresh
LEASE_SECONDS = 30 * 60  # where there is no advisory lock: a refresh that died frees it after this
CONTRACT_KEYS = ("contracted", "renewal_due", "renewed", "elderly_checked")
ITEM_FIELDS = ("contracts", "owed", "owed_by", "delivered", "counted")
CHRONIC_KEYS = ("managed", "standardized", "controlled", "overdue", "health_checked")


def county_of(code: str) -> str:
    return code[:6]


class VillageArea(Area):
    """A county whose buckets are the region codes of the counted rows themselves."""

    def bucket(self, column):
        return column

    def code_of_bucket(self, bucket: str) -> str:
        return bucket


# Computing a snapshot

def compute_cells(county: Region, day: date) -> list[dict]:
    """Every count of ``county`` on ``day``, as cells (zero counts left out)."""
    a = VillageArea(county, [])
    live = Live()
    cells: list[dict] = []

    def add(kind: str, region: str, team: str | None, key: str, value, label: str | None = None) -> None:
        if value:
            cells.append({"kind": kind, "region_code": region, "team_id": team or "", "key": key,
                          "value": int(value), "label": label})

    counts, ended, renewed, checked = live.contracts(a, day)
    for code, row in counts.items():
        for key, value in row.items():
            add("contracts", code, None, key if key == "contracted" else f"group:{key}", value)
    for name, figures in (("renewal_due", ended), ("renewed", renewed), ("elderly_checked", checked)):
        for code, value in figures.items():
            add("contracts", code, None, name, value)
    for disease in DISEASES:
        for code, row in live.chronic(a, disease, day.year, day).items():
            for key, value in row.items():
                add(f"chronic:{disease}", code, None, key, value)
    teams = teams_of(a)
    for team_id, row in live.teams(a, [t.id for t in teams], day).items() if teams else ():
        for key, value in row.items():
            add("teams", "", team_id, key, value)
    # From the counts each write keeps on its contract's items (half the time of counting the
    # deliveries again) when they are the day's: today's, unless a run back-dated to an earlier
    # day finds deliveries since; a month end's counted up to that day.
    statuses, items = fulfilment_counts(a, day, kept=day == clock.today())
    for code, team_id, state, n in statuses:
        add("fulfilment", code, team_id, state, n)
    for code, item, name, *values in items:
        for field, value in zip(ITEM_FIELDS, values):
            add("items", code, None, f"{item}\t{field}", value, name if field == "contracts" else None)
    return cells


def write_snapshot(county: Region, day: date, frozen: bool) -> StatSnapshot:
    """Compute and store ``county``'s snapshot of ``day`` in the session's transaction, replacing
    the one before; the caller commits."""
    started = timer.perf_counter()
    computed_at = clock.utcnow()
    code = county_of(county.code)
    cells = compute_cells(county, day)
    db.session.execute(sa.delete(StatCell).where(StatCell.as_of == day, StatCell.county_code == code))
    db.session.execute(sa.delete(StatSnapshot).where(StatSnapshot.as_of == day, StatSnapshot.county_code == code))
    if cells:
        db.session.execute(sa.insert(StatCell), [{"as_of": day, "county_code": code, **c} for c in cells])
    return _record(StatSnapshot(county_code=code, as_of=day, computed_at=computed_at, frozen=frozen,
                                cells=len(cells), seconds=round(timer.perf_counter() - started, 3)))


def _record(snapshot: StatSnapshot) -> StatSnapshot:
    """The snapshot's own row, written last: until it is committed, readers see the one before."""
    db.session.add(snapshot)
    db.session.flush()
    return snapshot


# Deciding what to refresh

def month_ends_before(today: date, months: int = MONTHS_KEPT) -> list[date]:
    """The last days of the ``months`` months before ``today``'s, oldest first."""
    ends, end = [], today.replace(day=1) - timedelta(days=1)
    for _ in range(months):
        ends.append(end)
        end = end.replace(day=1) - timedelta(days=1)
    return ends[::-1]


def changed_counties(since: datetime) -> set[str]:
    """The counties with a record written at or after ``since`` (a record of a resident who moved
    counts for the county they left as well as the one they live in)."""
    county = sa.func.substr(Resident.region_code, 1, 6)
    changed: set[str] = set()
    statements = [
        sa.select(county).where(Resident.updated_at >= since),
        sa.select(sa.func.substr(Condition.region_code, 1, 6)).where(Condition.updated_at >= since),
        sa.select(sa.func.substr(Contract.region_code, 1, 6)).where(Contract.updated_at >= since),
        sa.select(sa.func.substr(ResidentMove.from_region, 1, 6)).where(ResidentMove.moved_at >= since),
    ]
    for model in (FollowUp, ServiceDelivery, HealthCheck):
        statements.append(sa.select(county).join(model, model.resident_id == Resident.id)
                          .where(model.updated_at >= since))
    for statement in statements:
        changed |= {c for c in db.session.scalars(statement.distinct()) if c}
    return changed


def counties_in(region_code: str | None) -> list[Region]:
    statement = sa.select(Region).where(Region.level == "county").order_by(Region.code)
    if region_code:
        statement = statement.where(Region.code.like(prefix_of(region_code)[:6] + "%"))
    return list(db.session.scalars(statement))


def _lock():
    from scheduled.leader import leadership_for  # the scheduler's lock, under the refresh's own key

    holder = f"rollup:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this refresh's own
    return leadership_for(db.engine, holder[:80], name="rollup", key=LOCK_KEY, lease_seconds=LEASE_SECONDS)


def refresh(now: datetime | None = None, full: bool = False, region_code: str | None = None) -> dict[str, int]:
    """Bring the reporting tables up to ``now``: for each county (under ``region_code``),
    today's snapshot when missing or when its records changed since it was taken, the month ends
    not yet frozen, and (``full``) every kept day again. Returns the counts of what it did;
    ``skipped`` when another refresh holds the lock."""
    today = clock.to_civil(now or clock.now()).date()
    lock = _lock()
    if not lock.try_acquire():
        log.info("a statistics refresh is already running; this one stops")
        return {"skipped": 1}
    done = {"snapshots": 0, "frozen": 0, "unchanged": 0, "cells": 0, "dropped": 0}
    try:
        counties = counties_in(region_code)
        codes = [county_of(c.code) for c in counties]
        kept = {(code, day): (frozen, computed_at) for code, day, frozen, computed_at in db.session.execute(
            sa.select(StatSnapshot.county_code, StatSnapshot.as_of, StatSnapshot.frozen, StatSnapshot.computed_at)
            .where(StatSnapshot.county_code.in_(codes)))}
        todays = [computed_at for (code, day), (_, computed_at) in kept.items() if day == today]
        changed = changed_counties(min(todays)) if todays and not full else set()
        ends = set(month_ends_before(today))
        # Today's figures first, for every county; then the month ends a first run or a new
        # month needs (a province's first run takes a while: its consoles are served meanwhile).
        for county in counties:
            code = county_of(county.code)
            if full or (code, today) not in kept or code in changed:
                done["cells"] += _write(county, today, frozen=False).cells
                done["snapshots"] += 1
            else:
                done["unchanged"] += 1
            lock.still_leader()  # renews the lease between counties
        for county in counties:
            code = county_of(county.code)
            for day in sorted(ends):
                if full or not kept.get((code, day), (False,))[0]:
                    done["cells"] += _write(county, day, frozen=True).cells
                    done["frozen"] += 1
                    lock.still_leader()
            for c, day in list(kept):
                if c == code and day < today and day not in ends:  # a past day no longer kept
                    db.session.execute(sa.delete(StatCell).where(StatCell.as_of == day, StatCell.county_code == c))
                    db.session.execute(sa.delete(StatSnapshot).where(StatSnapshot.as_of == day,
                                                                     StatSnapshot.county_code == c))
                    db.session.commit()
                    done["dropped"] += 1
    finally:
        db.session.rollback()
        lock.release()
    return done


def _write(county: Region, day: date, frozen: bool) -> StatSnapshot:
    db.session.commit()  # the reads before are over: the snapshot starts a transaction of its own
    if on_postgresql():  # one consistent view of the records for the whole snapshot
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        # Background work on one core: a parallel plan would take the others from the doctors'
        # requests for the length of the statement.
        db.session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    try:
        snapshot = write_snapshot(county, day, frozen)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    log.info("statistics of %s on %s: %d cells in %.1f s", county.code, day, snapshot.cells, snapshot.seconds)
    return snapshot


# Reading

def sums_statement(a: Area, counties: list[str], days: list[date], kind: str, label: bool = False,
                   keys: tuple[str, ...] | None = None):
    """The cells of a kind summed per day, bucket of the area's children (its villages for a
    village), team and key: (as_of, bucket, team, key, sum[, label])."""
    bucket = sa.func.substr(StatCell.region_code, 1, CHILD_PREFIX.get(a.region.level, 12))
    columns = [StatCell.as_of, bucket, StatCell.team_id, StatCell.key, sa.func.sum(StatCell.value)]
    if label:
        columns.append(sa.func.max(StatCell.label))
    return (sa.select(*columns)
            .where(StatCell.as_of.in_(days), StatCell.county_code.in_(counties),
                   StatCell.kind == kind, StatCell.region_code.like(a.prefix + "%"),
                   StatCell.key.in_(keys) if keys else sa.true())
            .group_by(StatCell.as_of, bucket, StatCell.team_id, StatCell.key))


def load_together(a: Area, sources: list, kind: str, keys: tuple[str, ...] | None = None) -> None:
    """Read the cells the Rollup sources among ``sources`` (of one area, on several days: a
    trend's points) will sum, in one statement instead of one per day."""
    rollups = {s.day: s for s in sources if isinstance(s, Rollup)}
    if len(rollups) < 2:
        return
    rows: dict[date, list] = {day: [] for day in rollups}
    counties = next(iter(rollups.values())).counties  # the area's, whatever the day
    for row in db.session.execute(sums_statement(a, counties, list(rollups), kind, False, keys)):
        rows[row[0]].append(row)
    for day, source in rollups.items():
        source.loaded[(a.region.code, kind, False, keys)] = rows[day]


class Rollup:
    """The statistics' counts read from the snapshots of ``day`` of every county in an area."""

    name = "rollup"

    def __init__(self, counties: list[str], day: date, computed_at: datetime):
        self.counties, self.day, self.computed_at = counties, day, computed_at
        self.loaded: dict[tuple, list] = {}  # _sums read ahead for several days at once (load_together)

    def _sums(self, a: Area, kind: str, label: bool = False, keys: tuple[str, ...] | None = None):
        rows = self.loaded.get((a.region.code, kind, label, keys))
        if rows is None:
            rows = db.session.execute(sums_statement(a, self.counties, [self.day], kind, label, keys))
        for row in rows:
            yield (a.code_of_bucket(row[1]), row[2], row[3], int(row[4]), *(row[5:] if label else ()))

    def contracts(self, a: Area, day: date, keys: tuple[str, ...] | None = None):
        counts: dict[str, dict] = defaultdict(dict)
        other = {k: {} for k in CONTRACT_KEYS[1:]}
        for code, _, key, value in self._sums(a, "contracts", keys=keys):
            if key == "contracted":
                counts[code]["contracted"] = value
            elif key.startswith("group:"):
                counts[code][key[6:]] = value
            else:
                other[key][code] = value
        # The live counts' shape: a bucket with contracted residents has every key, zeros included.
        counts = {code: {"contracted": 0, **{g: 0 for g in GROUPS}, **row} for code, row in counts.items()
                  if "contracted" in row}
        return counts, other["renewal_due"], other["renewed"], other["elderly_checked"]

    def chronic(self, a: Area, disease: str, year: int, day: date):
        counts: dict[str, dict] = defaultdict(dict)
        for code, _, key, value in self._sums(a, f"chronic:{disease}"):
            counts[code][key] = value
        return {code: {**dict.fromkeys(CHRONIC_KEYS, 0), **row} for code, row in counts.items()}

    def teams(self, a: Area, ids: list[str], day: date):
        counts: dict[str, dict] = {}
        rows = db.session.execute(
            sa.select(StatCell.team_id, StatCell.county_code, StatCell.key, StatCell.value)
            .where(StatCell.as_of == self.day, StatCell.county_code.in_(self.counties), StatCell.kind == "teams",
                   StatCell.team_id.in_(ids))
            .order_by(StatCell.county_code))
        first_county: dict[str, str] = {}
        for team_id, county, key, value in rows:  # a team serving two counties is in both: the same figures
            if first_county.setdefault(team_id, county) == county:
                counts.setdefault(team_id, {})[key] = value
        return counts

    def fulfilment(self, a: Area, day: date):
        statuses = [(code, team_id, state, n) for code, team_id, state, n in self._sums(a, "fulfilment")]
        items: dict[tuple[str, str], dict] = {}
        for code, _, key, value, name in self._sums(a, "items", label=True):
            item, _, field = key.partition("\t")
            entry = items.setdefault((code, item), {"name": None})
            entry[field] = value
            if name is not None:
                entry["name"] = name
        rows = [(code, item, entry["name"], *(entry.get(f, 0) for f in ITEM_FIELDS))
                for (code, item), entry in items.items()]
        return statuses, rows


def counties_of(a: Area) -> list[str]:
    """The counties whose snapshots hold an area: its own, or those under a city or province."""
    if a.region.level in ("county", "township", "village"):
        return [county_of(a.region.code)]
    return [county_of(c) for c in db.session.scalars(
        sa.select(Region.code).where(Region.level == "county", Region.code.like(a.prefix + "%")))]


def sources_for(a: Area, days: list[date], cells: tuple[str, tuple[str, ...] | None] | None = None) -> dict:
    """Per day: the reporting tables when every county of the area has a snapshot of it;
    otherwise the live computation. ``cells`` (kind, keys): what the caller will read of each
    day, read ahead for all of them at once."""
    counties = counties_of(a)
    taken = {day: (n, first) for day, n, first in db.session.execute(
        sa.select(StatSnapshot.as_of, sa.func.count(), sa.func.min(StatSnapshot.computed_at))
        .where(StatSnapshot.as_of.in_(days), StatSnapshot.county_code.in_(counties))
        .group_by(StatSnapshot.as_of))} if counties else {}
    sources = {day: Rollup(counties, day, taken[day][1]) if taken.get(day, (0,))[0] == len(counties) else Live()
               for day in days}
    if cells:
        load_together(a, list(sources.values()), *cells)
    return sources


def source_for(a: Area, day: date):
    return sources_for(a, [day])[day]


# Checking: the reporting tables against the live computation

def plain(value):
    """A statistic without the marks of where it came from."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k not in ("computed_at", "source")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def indicators(a: Area, day: date, source) -> dict:
    """Every statistic of an area on a day, as the endpoints give them (trend by its counts)."""
    from backend.stats import fulfilment, service

    figures = {"contracts": service.contract_stats(a, day, source), "teams": service.team_stats(a, day, source),
               "fulfilment": fulfilment.fulfilment_stats(a, day, source)}
    for disease in DISEASES:
        figures[f"chronic:{disease}"] = service.chronic_stats(a, disease, day.year, day, source)
    for metric in service.TREND_METRICS:  # a trend's point on this day
        figures[f"trend:{metric}"] = service.metric_on(a, metric, day, source)
    return figures


def compare(region_code: str | None = None, days: list[date] | None = None, deepest: str = "village") -> list[str]:
    """Every indicator of every region from the province down to ``deepest`` (and so every team)
    under ``region_code``, on each of ``days`` (default: today), read from the reporting tables
    and computed live. Returns the differences, one line each; a day without a snapshot is one."""
    from backend.directory.regions import LEVELS
    from backend.stats import service

    days = days or [clock.today()]
    codes: set[str] = set()
    for county in counties_in(region_code):
        code = county.code
        codes |= {code[:2].ljust(12, "0"), code[:4].ljust(12, "0")}
        levels = LEVELS[:LEVELS.index(deepest) + 1]
        codes |= set(db.session.scalars(sa.select(Region.code).where(
            Region.code.like(county_of(code) + "%"), Region.level.in_(levels))))
    known = set(db.session.scalars(sa.select(Region.code).where(Region.code.in_(codes))))
    differences = []
    for code in sorted(known):
        a = service.area(code)
        for day in days:
            source = source_for(a, day)
            if not isinstance(source, Rollup):
                differences.append(f"{code} {day}: no snapshot")
                continue
            stored, live = plain(indicators(a, day, source)), plain(indicators(a, day, Live()))
            for name in live:
                if stored[name] != live[name]:
                    differences.append(f"{code} {day} {name}: rollup {stored[name]!r} != live {live[name]!r}")
    return differences
