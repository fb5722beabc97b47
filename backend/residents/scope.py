"""Which residents a caller may see: one filter, used by every resident-bearing read and write.

account            the residents bound to it
doctor             residents living in the service areas of its teams
institution_admin  residents of its institution's area and of its teams' service areas
county_admin       residents of its region (all, when it has none)
Other domains add to a staff member's scope (a team also sees the residents it has
contracts with) through ``register_staff_scope``.
"""
from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.sql.elements import ColumnElement

from backend.auth.principal import Principal
from backend.directory.models import Institution, Team, TeamServiceArea
from backend.directory.regions import CODE_LENGTH, prefix_of
from backend.errors import NotFound
from backend.extensions import db, written
from backend.residents.models import AccountResident, Resident
from backend.security.audit import record_access

# A scope gives the ids of the residents it adds to a staff member's areas (a SELECT of one
# column; it may leave out residents who live inside the area prefixes it is given), or None.
StaffScope = Callable[[Principal, set[str]], sa.Select | None]
_staff_scopes: list[StaffScope] = []


def register_staff_scope(scope: StaffScope) -> None:
    _staff_scopes.append(scope)


ALL = None  # an unscoped county_admin sees every region


def _team_areas(team_ids) -> set[str]:
    team_ids = list(team_ids)
    if not team_ids:
        return set()
    return set(db.session.scalars(
        sa.select(TeamServiceArea.region_code).where(TeamServiceArea.team_id.in_(team_ids))
    ))


def area_prefixes(principal: Principal) -> set[str] | None:
    """The code prefixes of the regions whose residents a staff member sees (None: all)."""
    if principal.has_role("county_admin") and principal.region_code is None:
        return ALL
    areas: set[str] = set()
    if principal.has_role("county_admin"):
        areas.add(principal.region_code)
    if principal.has_role("institution_admin") and principal.institution_id:
        institution = db.session.get(Institution, principal.institution_id)
        areas.add(institution.region_code)
        areas |= _team_areas(db.session.scalars(sa.select(Team.id).where(Team.institution_id == institution.id)))
    if principal.has_role("doctor"):
        areas |= set(principal.team_areas) if principal.team_areas is not None else _team_areas(principal.team_ids)
    prefixes = {prefix_of(code) for code in areas}
    # A prefix inside another adds nothing; keep the query short.
    return {p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes)}


def region_in_scope(principal: Principal, region_code: str) -> bool:
    prefixes = area_prefixes(principal)
    return prefixes is ALL or any(region_code.startswith(prefix) for prefix in prefixes)


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The filter on Resident for everything the caller may see."""
    if principal.kind == "account":
        return Resident.id.in_(
            sa.select(AccountResident.resident_id).where(AccountResident.account_id == principal.id)
        )
    prefixes = area_prefixes(principal)
    if prefixes is ALL:
        return sa.true()
    clauses: list[ColumnElement[bool]] = [in_areas(Resident.region_code, prefixes)] if prefixes else []
    clauses += [Resident.id.in_(ids) for ids in added_ids(principal, prefixes)]
    return sa.or_(*clauses) if clauses else sa.false()


def in_areas(region_column, prefixes: set[str]) -> ColumnElement[bool]:
    """``region_column`` lies in one of the areas: villages (a whole 12-digit code) in one IN
    list, larger areas by prefix (both read through the pattern index)."""
    villages = sorted(p for p in prefixes if len(p) == CODE_LENGTH)
    clauses = [region_column.in_(villages)] if villages else []
    clauses += [region_column.like(written(p + "%")) for p in sorted(prefixes) if len(p) < CODE_LENGTH]
    return sa.or_(*clauses)


def _after(prefix: str) -> str | None:
    """The first code past every code that starts with ``prefix`` (codes are digits): '2208029' →
    '2208030'; None past '999'."""
    digits = prefix.rstrip("9")
    if not digits:
        return None
    return digits[:-1] + str(int(digits[-1]) + 1) + "0" * (len(prefix) - len(digits))


def outside_areas(ids: sa.Select, region_column, prefixes: set[str]) -> sa.Select | sa.CompoundSelect:
    """The rows of ``ids`` whose ``region_column`` lies in none of the areas, read as the ranges
    between them (one index range each), so that an index on the column skips the rows inside
    (a NOT LIKE would read them all)."""
    if not prefixes:
        return ids
    ranges: list[ColumnElement[bool]] = [region_column.is_(None)]
    low: str | None = None
    for prefix in sorted(prefixes):
        below = region_column < prefix
        ranges.append(below if low is None else sa.and_(region_column >= low, below))
        low = _after(prefix)
        if low is None:
            break
    if low is not None:
        ranges.append(region_column >= low)
    return sa.union_all(*(ids.where(r) for r in ranges))


def added_ids(principal: Principal, prefixes: set[str]) -> list[sa.Select]:
    """What other domains add to the areas ``prefixes`` of a staff member's scope."""
    return [ids for ids in (scope(principal, prefixes) for scope in _staff_scopes) if ids is not None]


# One statement, built once: every read of one resident starts here.
_RESIDENT_WITH_TAGS = sa.select(Resident).options(orm.joinedload(Resident.tags)) \
    .where(Resident.id == sa.bindparam("id"))


def visible_resident(principal: Principal, resident_id: str) -> Resident:
    """The resident, or 404 when it does not exist or lies outside the caller's scope.

    The same rule as ``visible_to``, checked on the one row: read by its key, then in the
    caller's areas by its village, and only outside them against what other domains add."""
    resident = db.session.execute(_RESIDENT_WITH_TAGS, {"id": resident_id}).unique().scalar_one_or_none()
    if resident is None or not _may_see(principal, resident):
        raise NotFound("居民不存在")
    return resident


def _may_see(principal: Principal, resident: Resident) -> bool:
    if principal.kind == "account":
        return db.session.scalar(sa.select(AccountResident.resident_id).where(
            AccountResident.account_id == principal.id, AccountResident.resident_id == resident.id)) is not None
    prefixes = area_prefixes(principal)
    if prefixes is ALL:
        return True
    if resident.region_code and any(resident.region_code.startswith(p) for p in prefixes):
        return True
    added = added_ids(principal, prefixes)
    return bool(added) and db.session.scalar(sa.select(Resident.id).where(
        Resident.id == resident.id, sa.or_(*(Resident.id.in_(ids) for ids in added)))) is not None


def read_resident(principal: Principal, resident_id: str, action: str) -> Resident:
    """The resident in scope (else 404), after its read is written to the access log."""
    resident = visible_resident(principal, resident_id)
    record_access(principal, [resident.id], action)
    return resident
