"""The service's one source of time.

Everything that needs "now" or "today" asks this module, so that tests and the
``run-job --now`` command can fix the clock, and so that civil dates are always
those of Asia/Shanghai, whatever the server's own time zone is.
"""
from __future__ import annotations

import contextlib
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

CIVIL_TZ = ZoneInfo("Asia/Shanghai")

_frozen: datetime | None = None


def now() -> datetime:
    """The current moment, timezone-aware, in Asia/Shanghai."""
    if _frozen is not None:
        return _frozen
    return datetime.now(CIVIL_TZ)


def machine_now() -> datetime:
    """The machine's own moment even while the clock is frozen: only for timers that really
    wait (the scheduler library's), never for what the service decides."""
    return datetime.now(CIVIL_TZ)


def today() -> date:
    """Today's civil date in Asia/Shanghai."""
    return now().date()


def utcnow() -> datetime:
    """The current moment in UTC (for storage)."""
    return now().astimezone(timezone.utc)


def to_civil(moment: datetime) -> datetime:
    """A stored moment shown in civil time; naive values are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CIVIL_TZ)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment; one without an offset is taken as civil time."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CIVIL_TZ)
    return moment.astimezone(CIVIL_TZ)


def freeze(moment: datetime | None) -> None:
    """Fix the clock at ``moment`` (None lets it run again)."""
    global _frozen
    _frozen = None if moment is None else parse_moment(moment.isoformat())


@contextlib.contextmanager
def frozen_at(moment: datetime):
    """Run a block with the clock fixed at ``moment``."""
    previous = _frozen
    freeze(moment)
    try:
        yield
    finally:
        freeze(previous)
