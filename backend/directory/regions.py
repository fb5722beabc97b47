"""12-digit statistical division codes (统计用区划代码): levels and ancestry from the code alone.

province PP0000000000, city PPCC00000000, county PPCCDD000000,
township PPCCDDTTT000, village PPCCDDTTTVVV.
"""
from __future__ import annotations

import re

CODE_LENGTH = 12
LEVELS = ("province", "city", "county", "township", "village")
# Where each level's own digits end in the code.
_ENDS = {"province": 2, "city": 4, "county": 6, "township": 9, "village": CODE_LENGTH}
_SEGMENTS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))
_CODE = re.compile(r"^\d{12}$")


class InvalidRegionCode(ValueError):
    pass


def level_of(code: str) -> str:
    """The level of a well-formed code; raises InvalidRegionCode otherwise."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise InvalidRegionCode("区划代码应为12位数字")
    nonzero = [int(code[a:b]) != 0 for a, b in _SEGMENTS]
    if not nonzero[0]:
        raise InvalidRegionCode("区划代码的省级部分不能为0")
    depth = max(i for i, flag in enumerate(nonzero) if flag)
    if not all(nonzero[: depth + 1]):
        raise InvalidRegionCode("区划代码的上级部分不能为0")
    return LEVELS[depth]


def prefix_of(code: str) -> str:
    """The significant digits: every descendant's code starts with them."""
    return code[: _ENDS[level_of(code)]]


def parent_of(code: str) -> str | None:
    level = level_of(code)
    if level == "province":
        return None
    parent_end = _ENDS[LEVELS[LEVELS.index(level) - 1]]
    return code[:parent_end].ljust(12, "0")


def ancestors_of(code: str) -> list[str]:
    """Parent first, province last."""
    result = []
    parent = parent_of(code)
    while parent is not None:
        result.append(parent)
        parent = parent_of(parent)
    return result


def is_within(code: str, area: str) -> bool:
    """True when ``code`` is ``area`` itself or lies below it."""
    return code.startswith(prefix_of(area))


def child_level(level: str) -> str | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None
