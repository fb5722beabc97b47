"""The statistics' sort keys compared byte by byte on PostgreSQL, as they are on SQLite."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from backend.contracts.models import Contract
from backend.stats.service import bytewise


def rendered(statement, dialect) -> str:
    return " ".join(str(statement.compile(dialect=dialect)).split())


def test_postgresql_counts_distinct_ids_under_the_c_collation():
    counted = sa.select(Contract.team_id, sa.func.count(sa.distinct(bytewise(Contract.resident_id))))
    assert 'count(DISTINCT (contracts.resident_id) COLLATE "C")' in rendered(counted, postgresql.dialect())


def test_sqlite_keeps_the_column_as_it_is():
    counted = sa.select(sa.func.count(sa.distinct(bytewise(Contract.resident_id))))
    assert rendered(counted, sqlite.dialect()) == "SELECT count(DISTINCT contracts.resident_id) AS count_1 FROM contracts"


def test_a_window_partitioned_by_it_sorts_under_the_c_collation():
    ranked = sa.select(sa.func.row_number().over(partition_by=bytewise(Contract.resident_id)))
    assert 'PARTITION BY (contracts.resident_id) COLLATE "C"' in rendered(ranked, postgresql.dialect())
