"""Masking of personal identifiers for display and logs."""

from __future__ import annotations

__all__ = ["mask_id_number", "mask_phone"]

# Below these lengths the visible head and tail would reveal most of the value
# (or all of it), so the whole value is starred instead.
_ID_MIN_MASKABLE = 15  # the legacy 15-digit number is the shortest real one
_PHONE_MIN_MASKABLE = 11


def _mask(value: str | None, head: int, tail: int, min_length: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) < min_length:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[-tail:]


def mask_id_number(value: str | None) -> str | None:
    """Keep the region code and the last 4 characters: 220802********1234."""
    return _mask(value, 6, 4, _ID_MIN_MASKABLE)


def mask_phone(value: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: 139****5678."""
    return _mask(value, 3, 4, _PHONE_MIN_MASKABLE)
