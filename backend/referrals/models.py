"""Referrals (转诊) made at a follow-up, and what the receiving institution did with them."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import IdMixin, TimestampMixin, db

# referred → received → returned (with the receiving institution's result); a referral the
# patient never went to may be closed by the referring team as returned with that result.
STATES = ("referred", "received", "returned")
AWAITING = ("referred", "received")


class Referral(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "referrals"
    __table_args__ = (
        # The referring team's list of referrals awaiting a result, and the receiving
        # institution's list of referrals to receive.
        sa.Index("ix_referrals_team_status", "team_id", "status"),
        sa.Index("ix_referrals_to_institution_status", "to_institution_id", "status"),
    )

    follow_up_id: Mapped[str] = mapped_column(sa.ForeignKey("follow_ups.id"), unique=True)
    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), index=True)
    disease: Mapped[str] = mapped_column(sa.String(16))
    urgent: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(sa.String(200))
    # A receiving institution in Jiayi's directory, or only its name when it is not.
    to_institution_id: Mapped[str | None] = mapped_column(sa.ForeignKey("institutions.id"))
    to_institution_name: Mapped[str] = mapped_column(sa.String(100))
    department: Mapped[str | None] = mapped_column(sa.String(50))
    referred_on: Mapped[date] = mapped_column(sa.Date)
    referred_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    # The referring team: the team of the resident's contract, else the referring doctor's first.
    team_id: Mapped[str | None] = mapped_column(sa.ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(sa.String(12), default="referred")
    received_on: Mapped[date | None] = mapped_column(sa.Date)
    received_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    returned_on: Mapped[date | None] = mapped_column(sa.Date)
    result: Mapped[str | None] = mapped_column(sa.String(1000))
    # The receiving institution's diagnosis (诊断), beside the free text of its result.
    diagnosis: Mapped[str | None] = mapped_column(sa.String(200))
    result_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
