"""A year of contracts in the demo county: about 60 % of residents contracted, key
populations higher, with pending sign-ups, terms ending soon, renewals, expiries and
terminations."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract
from backend.contracts.rules import end_date_for
from backend.contracts.service import price_contract
from backend.directory.models import ServicePackage, Team
from backend.demo.directory import team_finder
from backend.extensions import db
from backend.residents.groups import groups_of
from backend.residents.models import Resident

KEY_GROUPS = {"elderly_65", "child_0_6", "pregnant", "severe_mental_disorder", "tuberculosis", "disabled",
              "poverty_relief", "special_family_planning"}
# Personalized packages a contracted member of a group takes, and how often.
UPTAKE = {"elderly_care": 0.45, "child_care": 0.5, "maternal_care": 0.7}


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(9, 30), tzinfo=clock.CIVIL_TZ)


def load_contracts(rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(Contract)):
        return  # loaded before: the demo is never doubled
    serving_team = team_finder(list(db.session.scalars(sa.select(Team).order_by(Team.name))))
    packages = {p.code: p for p in db.session.scalars(sa.select(ServicePackage))}
    residents = list(db.session.scalars(sa.select(Resident).order_by(Resident.id_number_index)))
    groups = groups_of(residents, today)

    def contract(resident, team, status, start=None, signed=None, renewal_of=None, ended_on=None, reason=None):
        signed = signed or (start - timedelta(days=rng.randint(1, 10)))
        doctor = next(m.staff_id for m in team.members if m.team_role == "leader")
        offered = {p.package_code for p in team.packages}
        chosen = ["basic"] + [code for code, share in UPTAKE.items()
                              if code in offered and set(packages[code].eligible_groups) & set(groups[resident.id])
                              and rng.random() < share]
        c = Contract(resident_id=resident.id, team_id=team.id, doctor_id=doctor, status=status,
                     start_date=start, end_date=end_date_for(start) if start else None, renewal_of=renewal_of,
                     created_by_kind="staff", created_by_id=doctor, ended_on=ended_on, reason=reason,
                     created_at=_moment(signed), decided_by_id=doctor if start else None,
                     decided_at=_moment(start) if start else None)
        price_contract(c, [packages[code] for code in chosen])
        db.session.add(c)
        db.session.flush()
        return c

    for resident in residents:
        team = serving_team(resident.region_code)
        if team is None:
            continue
        # Cumulative shares: contracted, pending, expired unrenewed, terminated; the rest never signed.
        contracted, pending, expired, terminated = (
            (0.85, 0.90, 0.93, 0.94) if KEY_GROUPS & set(groups[resident.id]) else (0.52, 0.57, 0.62, 0.64)
        )
        roll = rng.random()
        if roll < contracted:
            start = today - timedelta(days=rng.randint(0, 364))
            if rng.random() < 0.3:
                # Signed the year before and renewed: the old term ended the day before this one.
                old_start = start - timedelta(days=365)
                old = contract(resident, team, "expired", old_start, ended_on=start - timedelta(days=1))
                contract(resident, team, "active", start, signed=start - timedelta(days=rng.randint(5, 50)),
                         renewal_of=old.id)
            else:
                contract(resident, team, "active", start)
        elif roll < pending:
            # Signed up recently and waiting for the team.
            contract(resident, team, "pending", signed=today - timedelta(days=rng.randint(0, 13)))
        elif roll < expired:
            # The term ended within the last three months and was not renewed yet: it may still be.
            start = today - timedelta(days=rng.randint(366, 450))
            contract(resident, team, "expired", start, ended_on=end_date_for(start))
        elif roll < terminated:
            start = today - timedelta(days=rng.randint(100, 300))
            contract(resident, team, "terminated", start, ended_on=start + timedelta(days=rng.randint(20, 90)),
                     reason=rng.choice(["迁出本地", "本人要求解约", "改签其他团队"]))
