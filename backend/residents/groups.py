"""Key-population tags (重点人群): derived from age and conditions, or set by staff.

Derived tags are computed on the as-of date, never stored; other domains (chronic
conditions) contribute theirs through ``register_group_source``.
"""
from __future__ import annotations

from datetime import date
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from backend import clock
from backend.extensions import db
from backend.residents.models import Resident, ResidentGroup
from backend.security.identity import age_on


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


# A source answers, for a set of resident ids and a day, each resident's tags,
# and gives the SQL condition on Resident for "has this tag".
TagsOf = Callable[[list[str], date], dict[str, set[str]]]
TagFilter = Callable[[str, date], ColumnElement[bool]]
_sources: dict[str, tuple[TagsOf, TagFilter]] = {}


def register_group_source(groups: tuple[str, ...], tags_of: TagsOf, tag_filter: TagFilter) -> None:
    source = (tags_of, tag_filter)  # one object for all its groups, so groups_of asks it once
    for group in groups:
        _sources[group] = source


def age_groups(birth_date: date, on: date) -> set[str]:
    age = age_on(birth_date, on) if birth_date <= on else 0
    groups = set()
    if age >= 65:
        groups.add("elderly_65")
    if age <= 6:
        groups.add("child_0_6")
    return groups


def in_force_on(on: date) -> ColumnElement[bool]:
    """SQL condition on ResidentGroup: the staff-set tag was in force on ``on``."""
    return sa.and_(ResidentGroup.set_on <= on,
                   sa.or_(ResidentGroup.removed_on.is_(None), ResidentGroup.removed_on > on))


def _staff_set_tags(residents: list[Resident], on: date) -> dict[str, set[str]]:
    tags = {r.id: {t.group for t in r.tags if t.set_on <= on} for r in residents}
    # A tag removed was removed on or before today: only a past day can still see it, so the
    # usual question (today's tags) is answered from the tags loaded with the residents.
    if residents and on < clock.today():
        removed = db.session.execute(
            sa.select(ResidentGroup.resident_id, ResidentGroup.group)
            .where(ResidentGroup.resident_id.in_(list(tags)), ResidentGroup.removed_on.is_not(None),
                   in_force_on(on)))
        for resident_id, group in removed:
            tags[resident_id].add(group)
    return tags


def groups_of(residents: list[Resident], on: date) -> dict[str, list[str]]:
    """Every resident's tags on ``on``, sorted."""
    ids = [r.id for r in residents]
    staff_set = _staff_set_tags(residents, on)
    tags = {r.id: age_groups(r.birth_date, on) | staff_set[r.id] for r in residents}
    for tags_of, _ in {id(v): v for v in _sources.values()}.values():
        for resident_id, extra in tags_of(ids, on).items():
            tags[resident_id] |= extra
    return {resident_id: sorted(values) for resident_id, values in tags.items()}


def group_filter(group: str, on: date) -> ColumnElement[bool]:
    """SQL condition on Resident: belongs to ``group`` on ``on``."""
    if group == "elderly_65":
        return Resident.birth_date <= years_before(on, 65)
    if group == "child_0_6":
        return Resident.birth_date > years_before(on, 7)
    if group in _sources:
        return _sources[group][1](group, on)
    if group in ("hypertension", "diabetes"):
        return sa.false()  # no condition registered anywhere yet
    return Resident.id.in_(sa.select(ResidentGroup.resident_id).where(ResidentGroup.group == group,
                                                                     in_force_on(on)))
