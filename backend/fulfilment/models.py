"""What the team delivered (service deliveries) and what happened on each call."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import IdMixin, TimestampMixin, UTCDateTime, db

OUTCOMES = ("reached_will_visit", "reached_declined", "no_answer", "wrong_number", "moved_away", "died")
# Outcomes that end the resident's management here: deregistration and termination follow
# once a second look confirms them.
LEAVING = ("moved_away", "died")


class ServiceDelivery(TimestampMixin, db.Model):
    """One contracted service delivered to a resident (a follow-up item is counted from the
    follow-ups themselves, never recorded here)."""

    __tablename__ = "service_deliveries"
    __table_args__ = (sa.Index("ix_service_deliveries_resident_item_day", "resident_id", "item_code",
                               "delivered_on"),)

    # Clients may choose the id (a UUID), so that a resend after a lost answer is recognised.
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"))
    item_code: Mapped[str] = mapped_column(sa.String(32))
    delivered_on: Mapped[date] = mapped_column(sa.Date)
    method: Mapped[str] = mapped_column(sa.String(8))
    notes: Mapped[str | None] = mapped_column(sa.String(500))
    recorded_by_id: Mapped[str] = mapped_column(sa.ForeignKey("staff.id"))
    body_hash: Mapped[str] = mapped_column(sa.String(64))


class Call(IdMixin, TimestampMixin, db.Model):
    """A team member's call to a resident on the call list, and its outcome."""

    __tablename__ = "calls"
    __table_args__ = (sa.Index("ix_calls_resident_called", "resident_id", "called_at"),)

    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"))
    team_id: Mapped[str | None] = mapped_column(sa.ForeignKey("teams.id"))
    outcome: Mapped[str] = mapped_column(sa.String(20))
    notes: Mapped[str | None] = mapped_column(sa.String(500))
    called_at: Mapped[datetime] = mapped_column(UTCDateTime)
    called_by_id: Mapped[str] = mapped_column(sa.ForeignKey("staff.id"))
    # moved_away / died: "pending" until confirmed (then the contract ends and the conditions
    # are deregistered) or dismissed.
    confirmation: Mapped[str | None] = mapped_column(sa.String(10))
    confirmed_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The fingerprint of the request that made it, so that a phone resending an offline entry
    # under its client id gets the stored call back (calls made before 0016 have none).
    body_hash: Mapped[str | None] = mapped_column(sa.String(64))
