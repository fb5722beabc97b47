"""The annual health check (健康体检表) of the national basic public health service."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import TimestampMixin, db


class HealthCheck(TimestampMixin, db.Model):
    """One health check. The readings the indicators and the record's summary use are columns;
    each section of the form is a JSON object checked by its schema (see exams.schemas)."""

    __tablename__ = "health_checks"
    __table_args__ = (sa.Index("ix_health_checks_resident_checked", "resident_id", "checked_on"),
                      sa.Index("ix_health_checks_checked", "checked_on"))

    # Clients may choose the id (a UUID), so that a resend after a lost answer is recognised.
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"))
    checked_on: Mapped[date] = mapped_column(sa.Date)
    recorded_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    # The team that did it: the team of the resident's contract when the recorder is in it.
    team_id: Mapped[str | None] = mapped_column(sa.ForeignKey("teams.id"))
    sbp: Mapped[int | None] = mapped_column()
    dbp: Mapped[int | None] = mapped_column()
    heart_rate: Mapped[int | None] = mapped_column()
    weight_kg: Mapped[float | None] = mapped_column(sa.Float)
    height_cm: Mapped[float | None] = mapped_column(sa.Float)
    bmi: Mapped[float | None] = mapped_column(sa.Float)
    waist_cm: Mapped[float | None] = mapped_column(sa.Float)
    fasting_glucose: Mapped[float | None] = mapped_column(sa.Float)
    # The form's sections.
    symptoms: Mapped[list] = mapped_column(sa.JSON, default=list)
    symptoms_other: Mapped[str | None] = mapped_column(sa.String(200))
    general: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    lifestyle: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    organ_function: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    physical_exam: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    auxiliary: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    health_problems: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    hospital_history: Mapped[list] = mapped_column(sa.JSON, default=list)
    medications: Mapped[list] = mapped_column(sa.JSON, default=list)
    vaccinations: Mapped[list] = mapped_column(sa.JSON, default=list)
    evaluation: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    guidance: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    body_hash: Mapped[str] = mapped_column(sa.String(64))
