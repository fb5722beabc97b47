"""The ranges between areas that stand in for NOT LIKE on an index."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend.residents.scope import _after, outside_areas


@pytest.mark.parametrize("prefix, after", [("2208021", "2208022"), ("220802101009", "220802101010"),
                                           ("2208029", "2208030"), ("22089", "22090"), ("999", None)])
def test_the_first_code_past_a_prefix(prefix, after):
    assert _after(prefix) == after


def test_outside_areas_is_exactly_the_codes_no_prefix_matches():
    engine = sa.create_engine("sqlite://")
    rows = sa.table("rows", sa.column("code"))
    codes = ["220801999999", "220802100001", "220802100009", "220802100010", "220802199999", "220802200001",
             "220802300001", "999999999999", None]
    prefixes = {"220802100", "2208022", "99999"}
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE rows (code TEXT)"))
        connection.execute(sa.text("INSERT INTO rows VALUES (:c)"), [{"c": c} for c in codes])
        found = connection.scalars(outside_areas(sa.select(rows.c.code), rows.c.code, prefixes)).all()
    expected = [c for c in codes if c is None or not any(c.startswith(p) for p in prefixes)]
    assert sorted(found, key=str) == sorted(expected, key=str)
    assert None in found and "220802199999" in found and "220802100009" not in found
