"""Scheduled jobs: each a plain function of the moment it runs for, returning its counts.

The scheduler process and `flask --app wsgi run-job NAME --now ...` call the same functions,
so an operator or a test can run any job once at a fixed moment.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from backend.contracts import service as contracts


def expire_contracts(now: datetime) -> dict[str, int]:
    """Nightly: active contracts whose term ended before today become expired."""
    return {"expired": contracts.expire_ended(now.date())}


JOBS: dict[str, Callable[[datetime], dict[str, int]]] = {
    "expire-contracts": expire_contracts,
}
