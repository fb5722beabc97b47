"""The audit trail of imports: who imported which file, when, with what result, and the rows
each run refused (the report an importer downloads)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import IdMixin, TimestampMixin, UTCDateTime, db

STATUSES = ("queued", "running", "succeeded", "failed")


class ImportRun(IdMixin, TimestampMixin, db.Model):
    """One import of one file, by the API (``submitted_by_id``) or the command line."""

    __tablename__ = "import_runs"
    __table_args__ = (sa.Index("ix_import_runs_created", "created_at"),)

    kind: Mapped[str] = mapped_column(sa.String(20))
    file_name: Mapped[str] = mapped_column(sa.String(255))
    file_size: Mapped[int] = mapped_column(sa.BigInteger)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean)
    # The villages the file may name lie in this region (None: the whole deployment, CLI only).
    region_code: Mapped[str | None] = mapped_column(sa.String(12))
    source: Mapped[str] = mapped_column(sa.String(8))  # api | cli
    submitted_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"), index=True)
    institution_id: Mapped[str | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    actor: Mapped[str] = mapped_column(sa.String(64))  # the staff username, or "cli"
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    rows_estimated: Mapped[int | None] = mapped_column(sa.Integer)
    rows_read: Mapped[int] = mapped_column(sa.Integer, default=0)
    imported: Mapped[int] = mapped_column(sa.Integer, default=0)
    already_on_file: Mapped[int] = mapped_column(sa.Integer, default=0)
    rejected: Mapped[int] = mapped_column(sa.Integer, default=0)
    unknown_columns: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Why the file as a whole could not be imported (not a spreadsheet, a missing column, ...).
    error: Mapped[str | None] = mapped_column(sa.String(500))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRejection(db.Model):
    """A row (or a column) of the file that was not imported, and why; personal values masked."""

    __tablename__ = "import_rejections"

    run_id: Mapped[str] = mapped_column(sa.ForeignKey("import_runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)  # the report's order
    row: Mapped[int] = mapped_column(sa.Integer)
    column: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str] = mapped_column(sa.String(255))
