"""Contract fulfilment (履约), pure: what a signed resident is owed by a day, and the status.

owed by D = owed × days of the term passed by D ÷ days in the term, rounded down, where the
term's days count both ends (a one-year term from 2026-01-01 to 2026-12-31 has 365 days) and
D itself counts as passed. A resident is ``complete`` when every item is delivered in full,
``behind`` when some item has fewer deliveries than it owes by D, and ``on_track`` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

STATUSES = ("on_track", "behind", "complete")
FACE_TO_FACE = ("clinic", "home")
# How a service was delivered; face-to-face ones (clinic, home) are what follow-up items count.
METHODS = ("clinic", "home", "phone", "online", "group")


@dataclass(frozen=True)
class ItemState:
    code: str
    name: str
    owed: int
    delivered: int
    owed_by_today: int

    @property
    def remaining(self) -> int:
        return max(0, self.owed - self.delivered)

    @property
    def behind_by(self) -> int:
        return max(0, self.owed_by_today - self.delivered)


def term_days(start: date, end: date) -> int:
    return (end - start).days + 1


def days_passed(start: date, end: date, on: date) -> int:
    if on < start:
        return 0
    return min((on - start).days + 1, term_days(start, end))


def owed_by(owed: int, start: date, end: date, on: date) -> int:
    return owed * days_passed(start, end, on) // term_days(start, end)


def item_state(code: str, name: str, owed: int, delivered: int, start: date, end: date, on: date) -> ItemState:
    return ItemState(code, name, owed, delivered, owed_by(owed, start, end, on))


def status_of(items: list[ItemState]) -> str:
    owing = [i for i in items if i.owed > 0]
    if all(i.delivered >= i.owed for i in owing):
        return "complete"
    if any(i.behind_by > 0 for i in owing):
        return "behind"
    return "on_track"


def items_for(item_lists: list[list[dict]], groups: set[str]) -> list[dict]:
    """The items a resident is owed from the signed packages' item lists: those for everyone or
    for a group the resident belongs to; an item in several packages is owed once, at the
    largest count."""
    found: dict[str, dict] = {}
    for items in item_lists:
        for item in items:
            eligible = item.get("eligible_groups") or []
            if eligible and not groups.intersection(eligible):
                continue
            per_year = item.get("per_year", 1)
            if per_year <= 0:
                continue
            current = found.get(item["code"])
            if current is None or per_year > current["owed"]:
                found[item["code"]] = {"code": item["code"], "name": item["name"], "owed": per_year,
                                       "follow_up_disease": item.get("follow_up_disease"),
                                       "health_check": bool(item.get("health_check"))}
    return sorted(found.values(), key=lambda i: i["code"])
