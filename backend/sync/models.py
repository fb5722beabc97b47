"""What the team sync needs beyond the domains' own rows: where residents moved from."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend import clock
from backend.extensions import IdMixin, UTCDateTime, db, new_id
from backend.residents.models import Resident


class ResidentMove(IdMixin, db.Model):
    """A resident's village changed. A team's sync learns from it that a resident left the team's
    area (the resident row keeps only where it lives now) or came into it (with its history)."""

    __tablename__ = "resident_moves"

    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), index=True)
    from_region: Mapped[str | None] = mapped_column(sa.String(12))
    to_region: Mapped[str | None] = mapped_column(sa.String(12))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


@sa.event.listens_for(Resident, "after_update")
def _record_move(_mapper, connection, resident) -> None:
    """Every write of a resident's village, whichever service makes it (PATCH by staff, the
    mini program's own change), is recorded in the same transaction."""
    history = sa.inspect(resident).attrs.region_code.history
    if not history.has_changes():
        return
    before = history.deleted[0] if history.deleted else None
    if before == resident.region_code:
        return
    connection.execute(sa.insert(ResidentMove.__table__).values(
        id=new_id(), resident_id=resident.id, from_region=before,
        to_region=resident.region_code, moved_at=clock.utcnow()))


def _index_updated_at() -> None:
    """An incremental sync reads what changed since a moment, table by table: each table of a
    synced kind is read by its ``updated_at`` (declared here, where the reason is)."""
    from backend.contracts.models import Contract
    from backend.followups.models import Condition, FollowUp
    from backend.fulfilment.models import Call, ServiceDelivery

    for model in (Resident, Condition, FollowUp, Contract, ServiceDelivery, Call):
        sa.Index(f"ix_{model.__tablename__}_updated_at", model.__table__.c.updated_at)


_index_updated_at()
