"""SQLite: a first load at least as big as the subscription table builds its secondary indexes
after the insert, in the same transaction (sync/service.py `_indexes_built_after`)."""

from __future__ import annotations

from typing import Any

import pytest

from shelfware.sync.service import (
    BULK_ROWS,
    CACHE_MEBIBYTES,
    _cache_mebibytes,
    _indexes_built_after,
)

INDEXES = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subscription'"


def indexes(db: Any) -> set[tuple[str, str | None]]:
    with db.engine.connect() as conn:
        return {(name, sql) for name, sql in conn.exec_driver_sql(INDEXES)}


@pytest.fixture
def sqlite_db(db):  # type: ignore[no-untyped-def]
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the indexes are rebuilt on SQLite only")
    return db


def test_the_indexes_are_dropped_during_a_big_load_and_the_same_after_it(sqlite_db) -> None:
    before = indexes(sqlite_db)
    with sqlite_db.transaction() as session, _indexes_built_after(session.connection(), BULK_ROWS):
        inside = set(session.connection().exec_driver_sql(INDEXES).all())
        # the unique key the insert matches stays
        assert inside and all(sql is None or "UNIQUE" in sql.upper() for _, sql in inside)
    assert indexes(sqlite_db) == before


def test_a_failure_during_the_load_leaves_every_index_in_place(sqlite_db) -> None:
    before = indexes(sqlite_db)
    with (
        pytest.raises(RuntimeError),
        sqlite_db.transaction() as session,
        _indexes_built_after(session.connection(), BULK_ROWS),
    ):
        raise RuntimeError("the switch-over failed")
    assert indexes(sqlite_db) == before


def test_a_small_load_keeps_the_indexes(sqlite_db) -> None:
    before = indexes(sqlite_db)
    with sqlite_db.transaction() as session, _indexes_built_after(session.connection(), 10):
        assert set(session.connection().exec_driver_sql(INDEXES).all()) == before


def test_the_switch_over_cache_grows_with_the_accounts_up_to_its_cap() -> None:
    """A 100,000-user switch-over's cache stays well under the 64 MiB that made it the peak
    of the process's memory; from about 170,000 accounts on it has all of it."""
    low, high = CACHE_MEBIBYTES
    assert _cache_mebibytes(0) == _cache_mebibytes(1000) == low
    assert low < _cache_mebibytes(100_000) <= 40
    assert _cache_mebibytes(170_000) == _cache_mebibytes(1_000_000) == high
    sizes = [_cache_mebibytes(n) for n in range(0, 300_000, 10_000)]
    assert sizes == sorted(sizes)
