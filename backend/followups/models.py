"""Registered chronic conditions (慢病管理) with their follow-up schedule, and the follow-ups."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import IdMixin, TimestampMixin, db
from backend.residents.models import copies_resident_region

DEREGISTRATION_REASONS = ("death", "moved_away", "diagnosis_withdrawn")
_ACTIVE = "deregistered_on IS NULL"


class Condition(IdMixin, TimestampMixin, db.Model):
    """A resident under management for one disease, from registered_on until deregistered."""

    __tablename__ = "conditions"
    __table_args__ = (
        sa.Index("uq_conditions_active_disease", "resident_id", "disease", unique=True,
                 postgresql_where=sa.text(_ACTIVE), sqlite_where=sa.text(_ACTIVE)),
        # The doctors' due lists read this index instead of scanning follow-ups.
        sa.Index("ix_conditions_due", "next_due_on", postgresql_where=sa.text(_ACTIVE),
                 sqlite_where=sa.text(_ACTIVE)),
        # A team's due list: its villages' active conditions, by prefix, then by due date.
        sa.Index("ix_conditions_region_due", "region_code", "next_due_on",
                 postgresql_ops={"region_code": "varchar_pattern_ops"},
                 postgresql_where=sa.text(_ACTIVE), sqlite_where=sa.text(_ACTIVE)),
    )

    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), index=True)
    # The resident's village, copied (see copies_resident_region).
    region_code: Mapped[str | None] = mapped_column(sa.String(12))
    disease: Mapped[str] = mapped_column(sa.String(16))
    diagnosed_on: Mapped[date] = mapped_column(sa.Date)
    registered_on: Mapped[date] = mapped_column(sa.Date)
    registered_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    deregistered_on: Mapped[date | None] = mapped_column(sa.Date)
    deregistration_reason: Mapped[str | None] = mapped_column(sa.String(24))
    # The schedule, kept with the condition: the latest visit's next due date (or the first visit's).
    next_due_on: Mapped[date] = mapped_column(sa.Date)
    last_follow_up_id: Mapped[str | None] = mapped_column(sa.String(36))
    last_visited_on: Mapped[date | None] = mapped_column(sa.Date)
    # The latest visit asked for an urgent referral: such patients head the due list.
    urgent: Mapped[bool] = mapped_column(default=False)


copies_resident_region(Condition)


class FollowUp(TimestampMixin, db.Model):
    __tablename__ = "follow_ups"
    __table_args__ = (
        sa.Index("ix_follow_ups_resident_disease_visited", "resident_id", "disease", "visited_on"),
        sa.Index("ix_follow_ups_visited_method", "visited_on", "method"),
    )

    # Clients may choose the id (a UUID) so that a resend after a lost answer is recognised.
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"))
    condition_id: Mapped[str] = mapped_column(sa.ForeignKey("conditions.id"), index=True)
    disease: Mapped[str] = mapped_column(sa.String(16))
    visited_on: Mapped[date] = mapped_column(sa.Date)
    method: Mapped[str] = mapped_column(sa.String(8))
    sbp: Mapped[int | None] = mapped_column()
    dbp: Mapped[int | None] = mapped_column()
    heart_rate: Mapped[int | None] = mapped_column()
    weight_kg: Mapped[float | None] = mapped_column(sa.Float)
    height_cm: Mapped[float | None] = mapped_column(sa.Float)
    temperature_c: Mapped[float | None] = mapped_column(sa.Float)
    fasting_glucose: Mapped[float | None] = mapped_column(sa.Float)
    medication_adherence: Mapped[str | None] = mapped_column(sa.String(12))
    adverse_reaction: Mapped[bool] = mapped_column(default=False)
    complication: Mapped[str] = mapped_column(sa.String(8), default="none")
    symptoms: Mapped[list] = mapped_column(sa.JSON, default=list)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    # The rest of the national form (高血压/2型糖尿病患者随访服务记录表): see schemas.FollowUpFormMixin.
    symptoms_other: Mapped[str | None] = mapped_column(sa.String(200))
    target_weight_kg: Mapped[float | None] = mapped_column(sa.Float)
    bmi: Mapped[float | None] = mapped_column(sa.Float)  # computed from weight and height
    target_bmi: Mapped[float | None] = mapped_column(sa.Float)  # computed from target weight and height
    dorsalis_pedis_pulse: Mapped[str | None] = mapped_column(sa.String(16))
    other_signs: Mapped[str | None] = mapped_column(sa.String(200))
    # Lifestyle guidance, now and target: {"cigarettes_per_day": {"now", "target"}, ...}.
    lifestyle: Mapped[dict | None] = mapped_column(sa.JSON)
    hba1c: Mapped[float | None] = mapped_column(sa.Float)
    hba1c_on: Mapped[date | None] = mapped_column(sa.Date)
    other_exams: Mapped[str | None] = mapped_column(sa.String(500))
    adverse_reaction_detail: Mapped[str | None] = mapped_column(sa.String(200))
    hypoglycemia: Mapped[str | None] = mapped_column(sa.String(12))
    # [{"name", "dose", "unit", "times_per_day", "route"}]; insulin: {"type", "dose"}.
    medications: Mapped[list] = mapped_column(sa.JSON, default=list, server_default=sa.text("'[]'"))
    insulin: Mapped[dict | None] = mapped_column(sa.JSON)
    # The form's referral section as the doctor wrote it (reason, institution, department); the
    # referral's state and result are kept by its Referral record.
    referral: Mapped[dict | None] = mapped_column(sa.JSON)
    classification: Mapped[str] = mapped_column(sa.String(20))
    on_target: Mapped[bool] = mapped_column()
    refer: Mapped[bool] = mapped_column(default=False)
    urgent_referral: Mapped[bool] = mapped_column(default=False)
    referral_reasons: Mapped[list] = mapped_column(sa.JSON, default=list)
    next_due_on: Mapped[date] = mapped_column(sa.Date)
    recorded_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    # A fingerprint of the request body: the same id with another body is a conflict.
    body_hash: Mapped[str] = mapped_column(sa.String(64))
