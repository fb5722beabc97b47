"""County indicators (domain-rules.md "Indicators"), computed in the database.

Every count is one grouped query over residents of the region, bucketed by the child region
their code falls in (the first digits of the 12-digit code), so a region's figures are its
children's added up and nothing is loaded row by row. Denominators come from the populations
entered per region and year; a region without its own sums its children's.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from backend import clock
from backend.auth.principal import Principal
from backend.contracts.models import Contract
from backend.directory.models import GROUPS, Institution, Population, Region, Team, TeamServiceArea
from backend.directory.regions import LEVELS, is_within, prefix_of
from backend.directory.service import capacities, get_region
from backend.errors import Forbidden, ValidationFailed
from backend.exams.models import HealthCheck
from backend.extensions import db, on_postgresql
from backend.followups.models import Condition, FollowUp
from backend.followups.rules import FACE_TO_FACE
from backend.residents.groups import group_filter, years_before
from backend.residents.models import Resident

CHILD_PREFIX = {"province": 4, "city": 6, "county": 9, "township": 12}


class bytewise(sa.sql.functions.GenericFunction):
    """An id the statistics sort by (to count it distinctly, to partition by it), compared byte by
    byte: on PostgreSQL ``COLLATE "C"``.

    An id's place in the database's collation means nothing, and equality is the same under every
    deterministic collation; but a sort under a libc collation such as ``C.UTF-8`` or
    ``en_US.UTF-8`` calls ``strcoll`` for each comparison, and a county's counts of distinct
    residents sort hundreds of thousands of ids (the team and chronic figures: a quarter less
    time in all)."""
    inherit_cache = True
    type = sa.String()


@compiles(bytewise)
def _plain(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(bytewise, "postgresql")
def _collate_c(element, compiler, **kw):
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


def rate(numerator: int, denominator: int | None) -> float | None:
    if not denominator:
        return None
    return round(numerator / denominator, 4)


@dataclass
class Area:
    region: Region
    children: list[Region]

    @property
    def prefix(self) -> str:
        return prefix_of(self.region.code)

    def bucket(self, column):
        """The child region a resident's code falls in (the region itself for a village)."""
        length = CHILD_PREFIX.get(self.region.level, 12)
        return sa.func.substr(column, 1, length)

    def code_of_bucket(self, bucket: str) -> str:
        return bucket.ljust(12, "0")


def region_ref(region: Region) -> dict:
    """A region as every statistic names it."""
    return {"code": region.code, "name": region.name, "level": region.level}


def area(region_code: str) -> Area:
    region = get_region(region_code)
    children = list(db.session.scalars(sa.select(Region).where(Region.parent_code == region.code)
                                       .order_by(Region.code)))
    return Area(region, children)


WORK_MEM = "128MB"  # per sort or hash of a live statistic's statements, on PostgreSQL


def roomy() -> None:
    """Room for the transaction's statements to hash a province's conditions for the group
    counts: with PostgreSQL's default 4 MB the planner falls back to scanning them once per
    resident, minutes instead of seconds."""
    if on_postgresql():
        db.session.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


class Live:
    """The statistics computed from the records themselves, at the moment of asking: the
    reference the reporting tables (backend/stats/rollup.py) are checked against."""

    name = "live"

    def __init__(self):
        self.computed_at = clock.utcnow()
        roomy()

    def contracts(self, a: Area, day: date, keys: tuple[str, ...] | None = None):
        return contract_counts(a, day)  # every key: one grouped pass counts them all

    def chronic(self, a: Area, disease: str, year: int, day: date):
        return chronic_counts(a, disease, year, day)

    def teams(self, a: Area, ids: list[str], day: date):
        return team_counts(ids, day)

    def fulfilment(self, a: Area, day: date):
        from backend.stats.fulfilment import fulfilment_counts
        return fulfilment_counts(a, day)


# Scope: a county_admin reads its region; an institution_admin its institution's area and teams.

def stats_areas(principal: Principal) -> list[str] | None:
    """The region codes whose statistics the caller may read (None: all)."""
    if principal.has_role("county_admin"):
        return None if principal.region_code is None else [principal.region_code]
    if principal.has_role("institution_admin") and principal.institution_id:
        institution = db.session.get(Institution, principal.institution_id)
        areas = {institution.region_code}
        areas |= set(db.session.scalars(
            sa.select(TeamServiceArea.region_code).join(Team, Team.id == TeamServiceArea.team_id)
            .where(Team.institution_id == institution.id)))
        return sorted(areas)
    return []


def default_region(principal: Principal) -> str:
    areas = stats_areas(principal)
    if areas is None:  # an admin of the whole database: its top region (the province of a province's)
        depth = sa.case({level: i for i, level in enumerate(LEVELS)}, value=Region.level, else_=len(LEVELS))
        top = db.session.scalar(sa.select(Region.code).order_by(depth, Region.code).limit(1))
        if top is None:
            raise ValidationFailed({"region_code": ["请指定区划"]})
        return top
    if not areas:
        raise Forbidden("无权查看统计")
    return areas[0]


def ensure_may_read(principal: Principal, region_code: str) -> None:
    areas = stats_areas(principal)
    if areas is not None and not any(is_within(region_code, a) for a in areas):
        raise Forbidden("超出管辖范围")


# Denominators

def populations(a: Area, year: int) -> dict[str, dict]:
    """{region code: {"population": n | None, "groups": {...}}} for the region and its children,
    each summing its own children where it has no figure of its own."""
    rows = {p.region_code: p for p in db.session.scalars(
        sa.select(Population).where(Population.year == year, Population.region_code.like(a.prefix + "%")))}
    regions = list(db.session.scalars(sa.select(Region).where(Region.code.like(a.prefix + "%"))))
    children: dict[str, list[str]] = {}
    for region in regions:
        if region.parent_code:
            children.setdefault(region.parent_code, []).append(region.code)

    cache: dict[str, dict] = {}

    def figure(code: str) -> dict:
        if code in cache:
            return cache[code]
        own = rows.get(code)
        if own is not None:
            result = {"population": own.resident_population, "groups": dict(own.groups)}
        else:
            parts = [figure(c) for c in children.get(code, [])]
            known = [p for p in parts if p["population"] is not None]
            groups: dict[str, int] = {}
            for p in known:
                for g, n in p["groups"].items():
                    groups[g] = groups.get(g, 0) + n
            result = {"population": sum(p["population"] for p in known) if known else None, "groups": groups}
        cache[code] = result
        return result

    return {code: figure(code) for code in [a.region.code, *[c.code for c in a.children]]}


# Contracts

def contracted_on(day: date):
    """A contract holds the resident on ``day``: within its term and not ended before it."""
    return sa.and_(
        Contract.start_date <= day, Contract.end_date >= day,
        Contract.status.in_(("active", "expired", "terminated")),
        sa.or_(Contract.status != "terminated", Contract.ended_on > day),
    )


def _by_bucket(a: Area, statement) -> dict[str, int]:
    return {a.code_of_bucket(bucket): n for bucket, n in db.session.execute(statement).all()}


def contracted_counts(a: Area, day: date) -> dict[str, int]:
    """Residents contracted on ``day`` per bucket."""
    return {code: row["contracted"] for code, row in contracted_by_group(a, day, groups=()).items()}


def contracted_by_group(a: Area, day: date, groups=GROUPS) -> dict[str, dict[str, int]]:
    """One pass over the contracted residents: how many per bucket, and of them in each group."""
    holders = sa.select(Contract.resident_id).where(contracted_on(day)).distinct().subquery()
    bucket = a.bucket(Resident.region_code)
    statement = (
        sa.select(bucket, sa.func.count(),
                  *[sa.func.sum(sa.case((group_filter(g, day), 1), else_=0)) for g in groups])
        .select_from(Resident)
        .join(holders, holders.c.resident_id == Resident.id)
        .where(Resident.region_code.like(a.prefix + "%"))
        .group_by(bucket)
    )
    return {
        a.code_of_bucket(key): {"contracted": n, **{g: int(v or 0) for g, v in zip(groups, values)}}
        for key, n, *values in db.session.execute(statement).all()
    }


def renewal_counts(a: Area, day: date) -> tuple[dict[str, int], dict[str, int]]:
    """Contracts whose term ended in the 12 months before ``day``, and those of them renewed."""
    since = years_before(day, 1)
    renewal = sa.orm.aliased(Contract)
    renewed = sa.exists().where(renewal.renewal_of == Contract.id, renewal.start_date.is_not(None),
                                renewal.start_date <= day)
    bucket = a.bucket(Resident.region_code)
    ended = (sa.select(bucket, sa.func.count(), sa.func.sum(sa.case((renewed, 1), else_=0)))
             .select_from(Contract)
             .join(Resident, Resident.id == Contract.resident_id)
             .where(Resident.region_code.like(a.prefix + "%"), Contract.status.in_(("active", "expired")),
                    Contract.end_date >= since, Contract.end_date < day)
             .group_by(bucket))
    total, done = {}, {}
    for key, n, r in db.session.execute(ended).all():
        total[a.code_of_bucket(key)] = n
        done[a.code_of_bucket(key)] = int(r or 0)
    return total, done


def _checked_in_year(resident_id, day: date):
    """The resident had a health check in ``day``'s year, up to ``day``."""
    return sa.exists().where(HealthCheck.resident_id == resident_id,
                             HealthCheck.checked_on >= date(day.year, 1, 1), HealthCheck.checked_on <= day)


def elderly_checked_counts(a: Area, day: date) -> dict[str, int]:
    """Residents aged 65 or over on ``day`` with a health check in its year up to it, per bucket:
    the numerator of the elderly health management rate (老年人健康管理率), whose denominator is
    the elderly_65 population of the year."""
    bucket = a.bucket(Resident.region_code)
    return _by_bucket(a, sa.select(bucket, sa.func.count()).select_from(Resident)
                      .where(Resident.region_code.like(a.prefix + "%"), group_filter("elderly_65", day),
                             _checked_in_year(Resident.id, day))
                      .group_by(bucket))


def contract_counts(a: Area, day: date) -> tuple[dict, dict, dict, dict]:
    """Per bucket: the contracted residents and of them each group's; the contracts due for
    renewal and those renewed; the elderly checked."""
    ended, renewed = renewal_counts(a, day)
    return contracted_by_group(a, day), ended, renewed, elderly_checked_counts(a, day)


def contract_stats(a: Area, day: date, source=None) -> dict:
    year = day.year
    denominators = populations(a, year)
    counts, ended, renewed, checked = (source or Live()).contracts(a, day)

    def block(region: Region, codes: list[str]) -> dict:
        d = denominators[region.code]
        n = sum(counts.get(c, {}).get("contracted", 0) for c in codes)
        ended_n = sum(ended.get(c, 0) for c in codes)
        group_blocks = {}
        for g in GROUPS:
            members = sum(counts.get(c, {}).get(g, 0) for c in codes)
            population = d["groups"].get(g)
            group_blocks[g] = {"population": population, "contracted": members, "rate": rate(members, population)}
        elderly_checked = sum(checked.get(c, 0) for c in codes)
        return {
            "region": region_ref(region),
            "as_of": day, "population": d["population"], "contracted": n,
            "coverage_rate": rate(n, d["population"]), "groups": group_blocks,
            "elderly_health_checked": elderly_checked,
            "elderly_health_management_rate": rate(elderly_checked, d["groups"].get("elderly_65")),
            "renewal_due": ended_n, "renewed": sum(renewed.get(c, 0) for c in codes),
            "renewal_rate": rate(sum(renewed.get(c, 0) for c in codes), ended_n),
        }

    everything = sorted(set(counts) | set(ended) | set(checked))
    result = block(a.region, everything)
    result["children"] = [block(child, [child.code]) for child in a.children]
    return result


# Chronic disease management

def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def chronic_counts(a: Area, disease: str, year: int, day: date) -> dict[str, dict]:
    year_start = date(year, 1, 1)
    q_day = quarter_of(day)
    first_quarter = sa.case(
        (Condition.registered_on < year_start, 1),
        (Condition.registered_on < date(year, 4, 1), 1),
        (Condition.registered_on < date(year, 7, 1), 2),
        (Condition.registered_on < date(year, 10, 1), 3),
        else_=4,
    )
    face_to_face = (
        sa.select(sa.func.count()).where(
            FollowUp.resident_id == Condition.resident_id, FollowUp.disease == Condition.disease,
            FollowUp.method.in_(FACE_TO_FACE), FollowUp.visited_on >= year_start, FollowUp.visited_on <= day,
        ).correlate(Condition).scalar_subquery()
    )
    ranked = (
        sa.select(FollowUp.resident_id, FollowUp.visited_on, FollowUp.on_target, FollowUp.next_due_on,
                  sa.func.row_number().over(partition_by=bytewise(FollowUp.resident_id),
                                            order_by=(FollowUp.visited_on.desc(), FollowUp.created_at.desc()))
                  .label("n"))
        .where(FollowUp.disease == disease, FollowUp.visited_on <= day)
        .subquery()
    )
    latest = sa.select(ranked).where(ranked.c.n == 1).subquery()
    health_checked = sa.case((_checked_in_year(Condition.resident_id, day), 1), else_=0)
    standardized = sa.case((face_to_face >= q_day - first_quarter + 1, 1), else_=0)
    controlled = sa.case((sa.and_(latest.c.visited_on >= year_start, latest.c.on_target.is_(True)), 1), else_=0)
    active_on_day = sa.or_(Condition.deregistered_on.is_(None), Condition.deregistered_on > day)
    overdue = sa.case((sa.and_(active_on_day, sa.or_(
        latest.c.next_due_on < day,
        sa.and_(latest.c.resident_id.is_(None), Condition.registered_on < day - timedelta(days=14)),
    )), 1), else_=0)
    bucket = a.bucket(Resident.region_code)
    statement = (
        sa.select(bucket, sa.func.count(sa.distinct(bytewise(Condition.resident_id))), sa.func.sum(standardized),
                  sa.func.sum(controlled), sa.func.sum(overdue), sa.func.sum(health_checked))
        .select_from(Condition)
        .join(Resident, Resident.id == Condition.resident_id)
        .outerjoin(latest, latest.c.resident_id == Condition.resident_id)
        .where(Condition.disease == disease, Condition.registered_on <= day,
               sa.or_(Condition.deregistered_on.is_(None), Condition.deregistered_on >= year_start),
               Resident.region_code.like(a.prefix + "%"))
        .group_by(bucket)
    )
    return {
        a.code_of_bucket(key): {"managed": m, "standardized": int(s or 0), "controlled": int(c or 0),
                                "overdue": int(o or 0), "health_checked": int(h or 0)}
        for key, m, s, c, o, h in db.session.execute(statement).all()
    }


def chronic_stats(a: Area, disease: str, year: int, day: date, source=None) -> dict:
    counts = (source or Live()).chronic(a, disease, year, day)

    def block(region: Region, codes: list[str]) -> dict:
        total = {k: sum(counts.get(c, {}).get(k, 0) for c in codes)
                 for k in ("managed", "standardized", "controlled", "overdue", "health_checked")}
        return {
            "region": region_ref(region),
            "year": year, "as_of": day, "disease": disease, **total,
            "standardized_rate": rate(total["standardized"], total["managed"]),
            "control_rate": rate(total["controlled"], total["managed"]),
        }

    result = block(a.region, list(counts))
    result["children"] = [block(child, [child.code]) for child in a.children]
    return result


# Teams

def teams_of(a: Area) -> list[sa.Row]:
    """Active teams of institutions in the region or serving it, as rows (id, name,
    institution_id, institution_name, capacity_limit): a province has thousands, and the
    statistics need none of their members, areas or packages."""
    serving = sa.select(TeamServiceArea.team_id).where(TeamServiceArea.region_code.like(a.prefix + "%"))
    return db.session.execute(
        team_rows().where(Team.active.is_(True),
                          sa.or_(Institution.region_code.like(a.prefix + "%"), Team.id.in_(serving)))
        .order_by(Team.name, Team.id)
    ).all()


def team_rows() -> sa.Select:
    return sa.select(Team.id, Team.name, Team.institution_id, Institution.name.label("institution_name"),
                     Team.capacity_limit).join(Institution, Institution.id == Team.institution_id)


def team_counts(ids: list[str], day: date) -> dict[str, dict[str, int]]:
    """Per team: residents contracted on ``day``, sign-ups pending, conditions overdue."""
    contracted = dict(db.session.execute(
        sa.select(Contract.team_id, sa.func.count(sa.distinct(bytewise(Contract.resident_id))))
        .where(Contract.team_id.in_(ids), contracted_on(day)).group_by(Contract.team_id)).all())
    pending = dict(db.session.execute(
        sa.select(Contract.team_id, sa.func.count()).where(Contract.team_id.in_(ids), Contract.status == "pending")
        .group_by(Contract.team_id)).all())
    overdue = dict(db.session.execute(
        sa.select(Contract.team_id, sa.func.count(sa.distinct(bytewise(Condition.id))))
        .join(Condition, Condition.resident_id == Contract.resident_id)
        .where(Contract.team_id.in_(ids), contracted_on(day), Condition.deregistered_on.is_(None),
               Condition.next_due_on < day)
        .group_by(Contract.team_id)).all())
    return {t: {"contracted": contracted.get(t, 0), "pending": pending.get(t, 0), "overdue": overdue.get(t, 0)}
            for t in ids}


def team_stats(a: Area, day: date, source=None) -> list[dict]:
    """Teams of institutions in the region or serving it: contracted, capacity, pending, overdue."""
    teams = teams_of(a)
    if not teams:
        return []
    counts = (source or Live()).teams(a, [t.id for t in teams], day)
    capacity = capacities({t.id: t.capacity_limit for t in teams})
    rows = []
    for team in teams:
        figures = counts.get(team.id, {})
        n = figures.get("contracted", 0)
        rows.append({
            "team": {"id": team.id, "name": team.name},
            "institution": {"id": team.institution_id, "name": team.institution_name},
            "contracted": n, "capacity": capacity[team.id], "utilization_rate": rate(n, capacity[team.id]),
            "pending": figures.get("pending", 0), "overdue_follow_ups": figures.get("overdue", 0),
        })
    return rows


# Monthly series

TREND_METRICS = (
    "contracted", "coverage_rate", "renewal_rate",
    "hypertension_standardized_rate", "hypertension_control_rate",
    "diabetes_standardized_rate", "diabetes_control_rate",
)
MAX_MONTHS = 36


def month_ends(first: date, last: date, today: date) -> list[date]:
    """The last day of each month from ``first`` to ``last``; the current month ends today."""
    points, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        following = date(year + month // 12, month % 12 + 1, 1)
        end = following - timedelta(days=1)
        if date(year, month, 1) > today:
            break
        points.append(min(end, today))
        year, month = following.year, following.month
    return points


def population_of(a: Area, year: int) -> int | None:
    return populations(a, year)[a.region.code]["population"]


def metric_cells(metric: str) -> tuple[str, tuple[str, ...] | None]:
    """Which counts a metric reads: (kind, keys) in the reporting tables' terms."""
    if metric == "renewal_rate":
        return "contracts", ("renewal_due", "renewed")
    if metric in ("contracted", "coverage_rate"):
        return "contracts", ("contracted",)
    return f"chronic:{metric.partition('_')[0]}", None


def metric_on(a: Area, metric: str, day: date, source=None, population=None) -> float | int | None:
    """The metric's value on ``day``; ``population(year)`` gives the region's population (a
    trend asks once a year, not once a month)."""
    source = source or Live()
    if metric in ("contracted", "coverage_rate", "renewal_rate"):
        counts, ended, renewed, _ = source.contracts(a, day, keys=metric_cells(metric)[1])
        if metric == "renewal_rate":
            return rate(sum(renewed.values()), sum(ended.values()))
        contracted = sum(c["contracted"] for c in counts.values())
        if metric == "contracted":
            return contracted
        return rate(contracted, (population or functools.partial(population_of, a))(day.year))
    disease, _, kind = metric.partition("_")
    counts = source.chronic(a, disease, day.year, day).values()
    managed = sum(c["managed"] for c in counts)
    part = sum(c["standardized" if kind == "standardized_rate" else "controlled"] for c in counts)
    return rate(part, managed)


def trend(a: Area, metric: str, first: date, last: date, today: date, sources_for=None) -> dict:
    """Each point is read from the source ``sources_for(area, days, cells)`` gives its day (the
    reporting tables where they hold the day); the series' ``computed_at`` is its last point's."""
    points = []
    population = functools.cache(functools.partial(population_of, a))
    days = month_ends(first, last, today)
    sources = sources_for(a, days, metric_cells(metric)) if sources_for else {d: Live() for d in days}
    for d in days:
        source = sources[d]
        points.append({"month": f"{d.year}-{d.month:02d}", "as_of": d,
                       "value": metric_on(a, metric, d, source, population),
                       "computed_at": source.computed_at, "source": source.name})
    names = {p["source"] for p in points}
    return {
        "region": region_ref(a.region),
        "metric": metric,
        "computed_at": points[-1]["computed_at"] if points else clock.utcnow(),
        "source": names.pop() if len(names) == 1 else "mixed" if names else "live",
        "points": points,
    }
