"""The statistics' reporting tables: a county's counts on a day, at the grain of village (and,
where a figure is a team's, of team), written whole by the refresh (backend/stats/rollup.py)."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import UTCDateTime, db


class StatSnapshot(db.Model):
    """One county's counts on one day. A snapshot is written in the same transaction as its
    cells, so a reader finds either the whole snapshot or the one before it. Month ends are
    frozen (kept as reported) once the month is over; the current day's is refreshed."""

    __tablename__ = "stat_snapshots"

    county_code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    as_of: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    frozen: Mapped[bool] = mapped_column(default=False)
    cells: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)


class StatCell(db.Model):
    """One count of a snapshot: ``kind`` names the statistic ("contracts", "chronic:hypertension",
    "fulfilment", "items", "teams"), ``region_code`` the village (or other region) of the counted
    rows ("" for a team's own figures), ``team_id`` the team ("" when the count is not a team's),
    ``key`` the figure; counts of zero are not stored."""

    __tablename__ = "stat_cells"

    as_of: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    region_code: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    team_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)
    label: Mapped[str | None] = mapped_column(sa.String(100))


def _index_updated_at() -> None:
    """The refresh asks which counties changed since their snapshot, table by table, by
    ``updated_at``; the synced tables have that index already (backend/sync/models.py)."""
    from backend.exams.models import HealthCheck

    sa.Index("ix_health_checks_updated_at", HealthCheck.__table__.c.updated_at)


_index_updated_at()
