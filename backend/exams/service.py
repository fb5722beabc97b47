"""Annual health checks (健康体检表): recording one, listing a resident's, and the views the API
and the health record show."""
from __future__ import annotations

import sqlalchemy as sa

from backend import clock
from backend.auth.principal import Principal
from backend.common import names_of
from backend.contracts.service import recording_team
from backend.directory.models import Staff
from backend.errors import ValidationFailed
from backend.exams import schemas as s
from backend.exams.models import HealthCheck
from backend.extensions import db, new_id
from backend.followups.rules import bmi
from backend.idempotency import fingerprint, store_once, stored_resend
from backend.residents import scope
from backend.residents.models import Resident

WHAT = "健康体检记录"


def _check_dates(data: dict, resident: Resident) -> None:
    """What needs the resident or today: every failure named at once."""
    errors: dict = {}
    today = clock.today()
    if data["checked_on"] > today:
        errors["checked_on"] = ["体检日期不能晚于今天"]
    elif data["checked_on"] < resident.birth_date:
        errors["checked_on"] = ["体检日期不能早于出生日期"]
    for name, field in (("hospital_history", "started_on"), ("vaccinations", "vaccinated_on")):
        for n, item in enumerate(data.get(name) or []):
            day = item.get(field)
            if day is not None and (day > data["checked_on"] or day < resident.birth_date):
                errors[f"{name}.{n}.{field}"] = ["须在出生日期与体检日期之间"]
    if errors:
        raise ValidationFailed(errors)


def record_health_check(principal: Principal, resident_id: str, data: dict) -> tuple[HealthCheck, bool]:
    """Store a health check; returns (check, created). A resend of the same body returns the
    stored one; the same id with another body is a conflict."""
    resident = scope.visible_resident(principal, resident_id)
    check_id = data.get("id") or new_id()
    body_hash = fingerprint(resident.id, data)
    if data.get("id") and (stored := stored_resend(HealthCheck, check_id, body_hash, WHAT)):
        return stored, False
    _check_dates(data, resident)

    general = dict(data.get("general") or {})
    general["bmi"] = bmi(general.get("weight_kg"), general.get("height_cm"))
    if general.get("self_care_score") is not None:
        general["self_care_level"] = s.self_care_level(general["self_care_score"])
    if general["bmi"] is None:
        del general["bmi"]
    auxiliary = data.get("auxiliary") or {}
    arm = s.first_arm(general) or {}
    heart = (data.get("physical_exam") or {}).get("heart") or {}
    sections = {name: s.stored(schema, data.get(name)) for name, schema in s.SECTIONS.items()}
    sections["general"] = s.stored(s.CheckGeneralSchema, general)
    sections["evaluation"] = sections["evaluation"] or {}
    check = HealthCheck(
        id=check_id, resident_id=resident.id, checked_on=data["checked_on"], recorded_by_id=principal.id,
        team_id=recording_team(principal, resident.id), body_hash=body_hash,
        sbp=arm.get("sbp"), dbp=arm.get("dbp"),
        heart_rate=heart.get("rate") if heart.get("rate") is not None else general.get("pulse_rate"),
        weight_kg=general.get("weight_kg"), height_cm=general.get("height_cm"), bmi=general.get("bmi"),
        waist_cm=general.get("waist_cm"), fasting_glucose=auxiliary.get("fasting_glucose"),
        symptoms=list(data.get("symptoms") or []), symptoms_other=data.get("symptoms_other"),
        **sections, **{name: s.stored(schema, data.get(name) or []) for name, schema in s.LISTS.items()},
    )
    return store_once(check, body_hash, WHAT)


def health_checks_of(resident_id: str) -> sa.Select:
    """The resident's health checks, the latest first."""
    return sa.select(HealthCheck).where(HealthCheck.resident_id == resident_id) \
        .order_by(HealthCheck.checked_on.desc(), HealthCheck.created_at.desc(), HealthCheck.id)


def recent_health_checks(resident_id: str, limit: int) -> list[HealthCheck]:
    return list(db.session.scalars(health_checks_of(resident_id).limit(limit)))


def check_views(checks: list[HealthCheck]) -> list[dict]:
    """The checks as HealthCheckSchema shows them, with the recording doctor's name."""
    staff_ids = {c.recorded_by_id for c in checks if c.recorded_by_id}
    names = names_of(Staff, staff_ids) if staff_ids else {}
    return [{
        "id": c.id, "resident_id": c.resident_id, "checked_on": c.checked_on, "team_id": c.team_id,
        "recorded_by": {"id": c.recorded_by_id, "name": names.get(c.recorded_by_id)} if c.recorded_by_id else None,
        "symptoms": c.symptoms, "symptoms_other": c.symptoms_other,
        **{name: getattr(c, name) for name in (*s.SECTIONS, *s.LISTS)},
        "evaluation": c.evaluation or None,
        "created_at": c.created_at,
    } for c in checks]
