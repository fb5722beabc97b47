"""Hypertension and diabetes patients of the demo county and a year of their follow-ups.

Prevalence rises with age as in north-eastern China; each township has its own diligence
(how often a scheduled visit happens), so standardized-management rates differ between
townships, some under the 65 % target; each patient has a propensity to be controlled.
Visits are classified by the same rules the API applies.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

import sqlalchemy as sa

from backend.demo.directory import serving_team
from backend.directory.models import Team
from backend.extensions import db, new_id
from backend.followups import rules
from backend.followups.models import Condition, FollowUp
from backend.idempotency import fingerprint
from backend.residents.models import Resident
from backend.security.identity import age_on

# (lowest age, hypertension prevalence, diabetes prevalence) among registered patients.
PREVALENCE = [(35, 0.06, 0.02), (45, 0.16, 0.05), (55, 0.27, 0.09), (65, 0.40, 0.13)]
METHODS = ["clinic"] * 13 + ["home"] * 5 + ["phone", "online"]


def _prevalence(age: int) -> tuple[float, float]:
    found = (0.0, 0.0)
    for low, htn, dm in PREVALENCE:
        if age >= low:
            found = (htn, dm)
    return found


def _reading(rng: random.Random, disease: str, controlled: bool, age: int) -> dict:
    if disease == "hypertension":
        if controlled:
            sbp_cap = 149 if age >= 65 else 139
            sbp, dbp = min(int(rng.gauss(128, 8)), sbp_cap), min(int(rng.gauss(79, 5)), 89)
        else:
            sbp, dbp = int(rng.gauss(158, 11)), int(rng.gauss(95, 7))
            if rng.random() < 0.03:
                sbp, dbp = rng.randint(180, 200), rng.randint(100, 115)
        sbp, dbp = max(sbp, 95), max(dbp, 55)
        return {"sbp": sbp, "dbp": min(dbp, sbp - 20), "heart_rate": int(rng.gauss(76, 8))}
    fpg = rng.gauss(6.1, 0.4) if controlled else rng.gauss(8.9, 1.4)
    if not controlled and rng.random() < 0.02:
        fpg = rng.uniform(16.7, 19.0)
    return {"fasting_glucose": round(min(max(fpg, 4.2), 25.0), 1), "heart_rate": int(rng.gauss(78, 8))}


def load_follow_ups(rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(Condition)):
        return  # loaded before
    teams = list(db.session.scalars(sa.select(Team).order_by(Team.name)))
    diligence = {}  # per township: the chance a due visit happens
    residents = list(db.session.scalars(sa.select(Resident).order_by(Resident.id_number_index)))
    for resident in residents:
        age = age_on(resident.birth_date, today)
        htn_p, dm_p = _prevalence(age)
        team = serving_team(teams, resident.region_code)
        township = resident.region_code[:9]
        if township not in diligence:
            diligence[township] = rng.uniform(0.55, 0.92)
        doctors = [m.staff_id for m in team.members] if team else [None]
        for disease, p in (("hypertension", htn_p), ("diabetes", dm_p)):
            if rng.random() >= p:
                continue
            _patient(rng, resident, disease, age, today, diligence[township], doctors)
    db.session.flush()


def _patient(rng, resident, disease, age, today, diligence, doctors) -> None:
    diagnosed = today - timedelta(days=rng.randint(30, 365 * 12))
    if rng.random() < 0.15:  # taken into management during the last year
        registered = today - timedelta(days=rng.randint(15, 360))
        diagnosed = min(diagnosed, registered)
    else:
        registered = diagnosed + timedelta(days=rng.randint(0, 60))
        registered = min(registered, today - timedelta(days=400))
        diagnosed = min(diagnosed, registered)
    condition = Condition(id=new_id(), resident_id=resident.id, disease=disease, diagnosed_on=diagnosed,
                          registered_on=registered, registered_by_id=doctors[0],
                          next_due_on=rules.first_due_on(registered))
    db.session.add(condition)
    control = rng.uniform(0.15, 0.8)  # this patient's chance of a visit on target
    window_start = today - timedelta(days=365)
    due = condition.next_due_on if registered >= window_start else window_start + timedelta(days=rng.randint(0, 60))
    previous = None
    last = None
    while due <= today:
        if rng.random() > diligence:
            # Missed: the patient turns up weeks later, or not before today (then overdue).
            due = due + timedelta(days=rng.randint(20, 70))
            continue
        visited = min(due + timedelta(days=rng.randint(-10, 2)), today)
        reading = _reading(rng, disease, rng.random() < control, age)
        data = {"disease": disease, "visited_on": visited, "method": rng.choice(METHODS),
                "adverse_reaction": rng.random() < 0.02, "complication": "new" if rng.random() < 0.01 else "none",
                "medication_adherence": rng.choice(["regular"] * 6 + ["intermittent"] * 3 + ["none"]),
                "weight_kg": round(rng.gauss(66, 9), 1), **reading}
        outcome = rules.classify(rules.Visit(
            disease=disease, visited_on=visited, sbp=data.get("sbp"), dbp=data.get("dbp"),
            heart_rate=data.get("heart_rate"), fasting_glucose=data.get("fasting_glucose"),
            adverse_reaction=data["adverse_reaction"], complication=data["complication"],
        ), age_on(resident.birth_date, visited), previous)
        last = FollowUp(id=new_id(), resident_id=resident.id, condition_id=condition.id,
                        recorded_by_id=rng.choice(doctors), body_hash=fingerprint(resident.id, data),
                        classification=outcome.classification, on_target=outcome.on_target, refer=outcome.refer,
                        urgent_referral=outcome.urgent_referral, referral_reasons=outcome.referral_reasons,
                        next_due_on=outcome.next_due_on, symptoms=[], **data)
        db.session.add(last)
        previous = rules.Previous(on_target=outcome.on_target, adverse_reaction=data["adverse_reaction"])
        due = outcome.next_due_on
    if last is not None:
        condition.next_due_on, condition.last_follow_up_id = last.next_due_on, last.id
        condition.last_visited_on, condition.urgent = last.visited_on, last.urgent_referral
