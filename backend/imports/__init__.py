"""Bulk import of the records a county already has, from the .xlsx and .csv files its systems export."""
from __future__ import annotations

from typing import Callable

from backend.imports.runner import Report


def importer_of(kind: str) -> Callable[..., Report]:
    """The import function of a kind (residents, conditions, contracts, follow-ups)."""
    if kind == "residents":
        from backend.imports.residents import import_residents
        return import_residents
    if kind == "conditions":
        from backend.imports.conditions import import_conditions
        return import_conditions
    if kind == "contracts":
        from backend.imports.contracts import import_contracts
        return import_contracts
    if kind == "follow-ups":
        from backend.imports.followups import import_follow_ups
        return import_follow_ups
    raise KeyError(kind)
