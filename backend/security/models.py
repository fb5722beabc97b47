from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend import clock
from backend.extensions import UTCDateTime, db, new_id


class AccessLog(db.Model):
    """One read of one resident's personal data: who, when, through which endpoint.

    The actor's name and institution are copied at the time of reading, so the log
    still says who it was after a name change or a move.
    """

    __tablename__ = "access_logs"
    # The log is read one resident at a time, newest first: that order is its key and its only
    # index. (A random id as the key was a second index, written at a random place for every
    # row of every read.) The id keeps two reads of one resident at one moment apart.
    __table_args__ = (sa.PrimaryKeyConstraint("resident_id", "at", "id", name="pk_access_logs"),)

    # No foreign key: an append-only log of reads needs none (each id was just read), and a key
    # would lock every resident row it names, on every read of a list.
    resident_id: Mapped[str] = mapped_column(sa.String(36))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    id: Mapped[str] = mapped_column(sa.String(36), default=new_id)
    actor_kind: Mapped[str] = mapped_column(sa.String(10))
    actor_id: Mapped[str] = mapped_column(sa.String(36))
    actor_name: Mapped[str] = mapped_column(sa.String(50))
    actor_institution: Mapped[str | None] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(100))
