"""Population denominators of the demo county: the demo residents are its whole population,
so each village's resident population and key-group counts are those of its residents."""
from __future__ import annotations

from collections import Counter
from datetime import date

import sqlalchemy as sa

from backend.directory.models import Population
from backend.extensions import db
from backend.residents.groups import groups_of
from backend.residents.models import Resident


def load_populations(today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(Population)):
        return  # loaded before
    residents = list(db.session.scalars(sa.select(Resident).where(Resident.region_code.is_not(None))))
    tags = groups_of(residents, today)
    size: Counter = Counter()
    groups: dict[str, Counter] = {}
    for resident in residents:
        size[resident.region_code] += 1
        groups.setdefault(resident.region_code, Counter()).update(tags[resident.id])
    for code, people in sorted(size.items()):
        for year in (today.year - 1, today.year):
            db.session.add(Population(region_code=code, year=year, resident_population=people,
                                      groups=dict(sorted(groups[code].items()))))
    db.session.flush()
