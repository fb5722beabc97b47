"""The contract rules of domain-rules.md as pure functions: states, term, renewal window."""
from __future__ import annotations

from datetime import date, timedelta

STATES = ("pending", "active", "rejected", "cancelled", "terminated", "expired")
LIVE_STATES = ("pending", "active")

# (state, action) -> new state; anything else is an invalid transition.
TRANSITIONS = {
    ("pending", "approve"): "active",
    ("pending", "reject"): "rejected",
    ("pending", "cancel"): "cancelled",
    ("active", "terminate"): "terminated",
    ("active", "expire"): "expired",
}

RENEWAL_OPENS_DAYS_BEFORE_END = 60
RENEWAL_CLOSES_DAYS_AFTER_END = 90
EXPIRING_WITHIN_DAYS = 30


def next_state(state: str, action: str) -> str | None:
    return TRANSITIONS.get((state, action))


def end_date_for(start: date) -> date:
    """One year less a day: 2025-03-01 → 2026-02-28; a 29 February start ends on 27 February."""
    try:
        anniversary = start.replace(year=start.year + 1)
    except ValueError:  # 29 February, and next year has none
        anniversary = start.replace(year=start.year + 1, day=28)
    return anniversary - timedelta(days=1)


def effective_status(status: str, end_date: date | None, today: date) -> str:
    """An active contract past its end reads expired, even before the nightly job records it."""
    if status == "active" and end_date is not None and end_date < today:
        return "expired"
    return status


def renewal_window(end_date: date) -> tuple[date, date]:
    return (end_date - timedelta(days=RENEWAL_OPENS_DAYS_BEFORE_END),
            end_date + timedelta(days=RENEWAL_CLOSES_DAYS_AFTER_END))


def in_renewal_window(end_date: date, today: date) -> bool:
    opens, closes = renewal_window(end_date)
    return opens <= today <= closes


def renewal_start(previous_end: date, approved_on: date) -> date:
    """The day after the old term when approved before it ended, else the approval date."""
    return previous_end + timedelta(days=1) if approved_on <= previous_end else approved_on


def is_contracted_on(status: str, start: date | None, end: date | None, day: date) -> bool:
    return status == "active" and start is not None and end is not None and start <= day <= end
