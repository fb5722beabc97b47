"""Resident identity numbers (GB 11643-1999), ages and mainland mobile numbers.

Pure functions with no framework dependency. Error reasons are zh-CN because
they are shown to residents and clinic staff as-is.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "InvalidIdNumber",
    "InvalidPhone",
    "age_on",
    "birth_date_of",
    "check_character",
    "make_id_number",
    "normalize_id_number",
    "normalize_phone",
    "sex_of",
]

REASON_FORMAT = "身份证号应为18位"
REASON_BAD_DATE = "身份证号中的出生日期无效"
REASON_FUTURE_DATE = "身份证号中的出生日期不能晚于今天"
REASON_CHECK_CHARACTER = "身份证号校验位错误"
REASON_PHONE = "手机号应为以1开头的11位数字"

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)

# Explicit [0-9] rather than \d: \d also matches full-width and other Unicode
# digits, which int() would happily accept and we must not.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_FIRST17 = re.compile(r"[0-9]{17}")
_REGION = re.compile(r"[0-9]{6}")
_MOBILE = re.compile(r"1[0-9]{10}")
# Separators people type inside a number: ASCII space, full-width space, hyphen.
_PHONE_SEPARATORS = re.compile(r"[ \u3000-]")


class InvalidIdNumber(ValueError):
    """An identity number failed validation; ``reason`` is a zh-CN message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidPhone(ValueError):
    """A phone number is not a mainland mobile number."""

    def __init__(self, reason: str = REASON_PHONE) -> None:
        super().__init__(reason)
        self.reason = reason


def check_character(first17: str) -> str:
    """Return the check character ('0'-'9' or 'X') for the first 17 digits."""
    if not isinstance(first17, str) or not _FIRST17.fullmatch(first17):
        raise ValueError("first17 must be exactly 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _WEIGHTS))
    return _CHECK_CHARACTERS[total % 11]


def _shape(value: object) -> str:
    """Strip, upper-case a trailing x and check the 18-character shape."""
    if not isinstance(value, str):
        raise InvalidIdNumber(REASON_FORMAT)
    candidate = value.strip()
    # Only the check character may be a letter, so upper-casing just it avoids
    # surprises from Unicode case mapping elsewhere in the string.
    if len(candidate) == 18 and candidate[-1] == "x":
        candidate = candidate[:-1] + "X"
    if not _ID_SHAPE.fullmatch(candidate):
        raise InvalidIdNumber(REASON_FORMAT)
    return candidate


def _parse_birth(id_number: str) -> date:
    digits = id_number[6:14]
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise InvalidIdNumber(REASON_BAD_DATE) from None
    if birth < _EARLIEST_BIRTH:
        raise InvalidIdNumber(REASON_BAD_DATE)
    return birth


def normalize_id_number(value: str, today: date) -> str:
    """Validate an identity number and return its canonical form.

    Checks run format, birth date, then check character, so the reason names
    the first problem a person would need to fix. ``today`` is passed in
    (rather than read from the clock) to keep the function deterministic.
    """
    candidate = _shape(value)
    if _parse_birth(candidate) > today:
        raise InvalidIdNumber(REASON_FUTURE_DATE)
    if check_character(candidate[:17]) != candidate[17]:
        raise InvalidIdNumber(REASON_CHECK_CHARACTER)
    return candidate


def birth_date_of(id_number: str) -> date:
    """Birth date encoded in an identity number (shape and date are checked)."""
    return _parse_birth(_shape(id_number))


def sex_of(id_number: str) -> str:
    """'male' when the 17th digit (sequence's last) is odd, else 'female'."""
    return "male" if int(_shape(id_number)[16]) % 2 else "female"


def make_id_number(region6: str, birth: date, sequence: int) -> str:
    """Build a valid identity number, e.g. for demo data and tests."""
    if not isinstance(region6, str) or not _REGION.fullmatch(region6):
        raise ValueError("region6 must be exactly 6 ASCII digits")
    if birth < _EARLIEST_BIRTH:
        raise ValueError("birth must not be before 1900-01-01")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence <= 999:
        raise ValueError("sequence must be an integer from 0 to 999")
    first17 = f"{region6}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def age_on(birth: date, on: date) -> int:
    """Completed years of age on ``on``.

    Comparing (month, day) tuples means a 29 Feb birthday is only reached on
    1 Mar in non-leap years, which matches the usual legal reading.
    """
    if on < birth:
        raise ValueError("date is before the birth date")
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def normalize_phone(value: str) -> str:
    """Return a mainland mobile number as 11 bare digits.

    Accepts spaces and hyphens anywhere and a leading +86 or 86 country code.
    """
    if not isinstance(value, str):
        raise InvalidPhone()
    digits = _PHONE_SEPARATORS.sub("", value.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        # Only strip a bare 86 when it is clearly a prefix: an 11-digit
        # mobile number itself starts with 1, never 86.
        digits = digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise InvalidPhone()
    return digits
