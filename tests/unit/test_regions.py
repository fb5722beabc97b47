"""Region codes: the level and the ancestry follow from the 12 digits alone."""
from __future__ import annotations

import pytest

from backend.directory.regions import InvalidRegionCode, ancestors_of, is_within, level_of, parent_of, prefix_of


@pytest.mark.parametrize("code, level, parent", [
    ("220000000000", "province", None),
    ("220800000000", "city", "220000000000"),
    ("220802000000", "county", "220800000000"),
    ("220802100000", "township", "220802000000"),
    ("220802001000", "township", "220802000000"),
    ("220802100001", "village", "220802100000"),
])
def test_level_and_parent(code, level, parent):
    assert level_of(code) == level
    assert parent_of(code) == parent


@pytest.mark.parametrize("code", [
    "22080210000", "2208021000011", "22080210000x", "", "000000000000",
    "220002100000",  # a township under a county of zeros
    "220800000001",  # a village with no township
])
def test_malformed_codes_are_rejected(code):
    with pytest.raises(InvalidRegionCode):
        level_of(code)


def test_ancestors_run_from_parent_to_province():
    assert ancestors_of("220802100001") == ["220802100000", "220802000000", "220800000000", "220000000000"]


@pytest.mark.parametrize("code, area, inside", [
    ("220802100001", "220802000000", True),
    ("220802000000", "220802000000", True),
    ("220821100001", "220802000000", False),
    ("220802000000", "220802100000", False),
])
def test_is_within(code, area, inside):
    assert is_within(code, area) is inside


def test_prefix_is_the_significant_digits():
    assert prefix_of("220802100000") == "220802100"
    assert prefix_of("220000000000") == "22"
