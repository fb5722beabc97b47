"""The notification outbox, subscribe-message credits, and the record of job runs."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend import clock
from backend.extensions import IdMixin, TimestampMixin, UTCDateTime, db

# pending → claimed (by one dispatcher) → sending (the call to WeChat is under way) →
# sent | failed | refused | no_credit | cancelled; failed, refused and no_credit put the
# resident on the doctor's call list. A ladder step that a catch-up run passed over for a later
# one (the scheduler missed its day) is recorded as skipped and never sent.
STATUSES = ("pending", "claimed", "sending", "sent", "failed", "refused", "no_credit", "cancelled", "skipped")
CALL_LIST_STATUSES = ("failed", "refused", "no_credit")
REASONS = ("follow_up", "renewal")
STEPS = ("before_3d", "due_day", "overdue_7d", "renewal_30d")


class Notification(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_dispatch", "status", "send_after"),
        sa.Index("ix_notifications_subject", "subject_id", "due_on"),
    )

    # (resident, reason, due date, step): planning twice, or two schedulers, never make a second row.
    idempotency_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(16))
    # The condition (follow-up) or contract (renewal) the reminder is about.
    subject_id: Mapped[str] = mapped_column(sa.String(36))
    due_on: Mapped[date] = mapped_column(sa.Date)
    step: Mapped[str] = mapped_column(sa.String(16))
    template_id: Mapped[str] = mapped_column(sa.String(64))
    page: Mapped[str] = mapped_column(sa.String(200))
    data: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    send_after: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # A dispatcher's claim: who holds the row and until when.
    claim_token: Mapped[str | None] = mapped_column(sa.String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account_id: Mapped[str | None] = mapped_column(sa.ForeignKey("accounts.id"))
    channel: Mapped[str | None] = mapped_column(sa.String(10))
    last_error: Mapped[str | None] = mapped_column(sa.String(100))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    msgid: Mapped[str | None] = mapped_column(sa.String(40))


class SubscriptionCredit(db.Model):
    """What an account accepted in wx.requestSubscribeMessage: one send per accept, per template."""

    __tablename__ = "subscription_credits"

    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), primary_key=True)
    template_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    credits: Mapped[int] = mapped_column(default=0)
    # Long-term templates (offline public services): accepted once, sendable again and again.
    long_term: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow, onupdate=clock.utcnow)


# running → succeeded | failed; a run whose process died while it was running is marked
# abandoned by the next scheduler to take the lead (or the same one, at its next look).
JOB_RUN_STATUSES = ("running", "succeeded", "failed", "abandoned")


class JobRun(IdMixin, db.Model):
    __tablename__ = "job_runs"
    __table_args__ = (sa.Index("ix_job_runs_started", "started_at"),
                      sa.Index("ix_job_runs_job_run_for", "job", "run_for"))

    job: Mapped[str] = mapped_column(sa.String(40))
    # The moment the job ran for (a fixed clock when run with --now).
    run_for: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(10), default="running")
    counts: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.String(100))
    runner: Mapped[str] = mapped_column(sa.String(80))
    # 1 for a day's first try of a daily job; each retry after a failure counts up.
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    # When a scheduler found this run's process gone (status abandoned).
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SchedulerLease(db.Model):
    """Leadership of the scheduler where advisory locks do not exist (SQLite)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
