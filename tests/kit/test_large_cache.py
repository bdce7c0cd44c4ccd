"""kit/db.py `large_cache`: more memory for one set-based transaction, the defaults after it."""

from __future__ import annotations

import pytest

from shelfware.kit.db import SQLITE_DEFAULT_CACHE_KIB, Database, large_cache

pytestmark = pytest.mark.store


def setting(connection, db: Database) -> str:  # type: ignore[no-untyped-def]
    if db.engine.dialect.name == "postgresql":
        return str(connection.exec_driver_sql("SHOW work_mem").scalar())
    return str(connection.exec_driver_sql("PRAGMA cache_size").scalar())


def test_more_memory_inside_the_transaction_and_the_default_after_it(db: Database) -> None:
    with db.engine.connect() as conn:
        before = setting(conn, db)
    with db.engine.begin() as conn, large_cache(conn, 32):
        inside = setting(conn, db)
    with db.engine.connect() as conn:
        after = setting(conn, db)
    expected = "32MB" if db.engine.dialect.name == "postgresql" else str(-32 * 1024)
    assert inside == expected != before
    assert after == before
    if db.engine.dialect.name == "sqlite":
        assert after == str(-SQLITE_DEFAULT_CACHE_KIB)
