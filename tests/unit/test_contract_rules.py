"""The contract rules of domain-rules.md, table by table."""
from __future__ import annotations

from datetime import date

import pytest

from backend.contracts import rules


@pytest.mark.parametrize("start, end", [
    (date(2025, 1, 1), date(2025, 12, 31)),
    (date(2025, 3, 1), date(2026, 2, 28)),
    (date(2024, 3, 1), date(2025, 2, 28)),
    (date(2023, 3, 1), date(2024, 2, 29)),   # the term runs over a leap day
    (date(2024, 2, 29), date(2025, 2, 27)),  # 29 February start ends 27 February
    (date(2024, 2, 28), date(2025, 2, 27)),
    (date(2025, 12, 31), date(2026, 12, 30)),
])
def test_term_is_one_year_less_a_day(start, end):
    assert rules.end_date_for(start) == end


@pytest.mark.parametrize("state, action, result", [
    ("pending", "approve", "active"), ("pending", "reject", "rejected"), ("pending", "cancel", "cancelled"),
    ("pending", "terminate", None), ("pending", "expire", None),
    ("active", "terminate", "terminated"), ("active", "expire", "expired"),
    ("active", "approve", None), ("active", "reject", None), ("active", "cancel", None),
    *[(final, action, None) for final in ("rejected", "cancelled", "terminated", "expired")
      for action in ("approve", "reject", "cancel", "terminate", "expire")],
])
def test_state_machine(state, action, result):
    assert rules.next_state(state, action) == result


END = date(2026, 6, 30)


@pytest.mark.parametrize("today, open_", [
    (date(2026, 4, 30), False),  # 61 days before the end
    (date(2026, 5, 1), True),    # 60 days before: the first day
    (END, True),
    (date(2026, 9, 28), True),   # 90 days after: the last day
    (date(2026, 9, 29), False),
])
def test_renewal_window(today, open_):
    assert rules.in_renewal_window(END, today) is open_


@pytest.mark.parametrize("approved_on, start", [
    (date(2026, 6, 1), date(2026, 7, 1)),
    (END, date(2026, 7, 1)),
    (date(2026, 7, 1), date(2026, 7, 1)),
    (date(2026, 8, 15), date(2026, 8, 15)),
])
def test_renewal_start(approved_on, start):
    assert rules.renewal_start(END, approved_on) == start


@pytest.mark.parametrize("status, end, today, reads", [
    ("active", END, END, "active"),
    ("active", END, date(2026, 7, 1), "expired"),
    ("pending", None, date(2026, 7, 1), "pending"),
    ("terminated", END, date(2026, 7, 1), "terminated"),
])
def test_an_active_contract_past_its_end_reads_expired(status, end, today, reads):
    assert rules.effective_status(status, end, today) == reads
