"""A bulk insert whose foreign keys are checked once for its rows (kit/db.py
`insert_checking_references_once`): on PostgreSQL the per-row triggers are skipped, and the set
check must give the same guarantee: no row can reference a missing row, and a concurrent
delete of a referenced row waits for the insert's transaction, then applies its ON DELETE
action to the new rows. Real PostgreSQL; on SQLite the statement runs with the per-row checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    MetaData,
    Table,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from shelfware.kit import db as kit_db
from shelfware.kit.db import Database, MissingReference, insert_checking_references_once

pytestmark = pytest.mark.store

meta = MetaData()
PARENT = Table("kit_ref_parent", meta, Column("id", BigInteger, primary_key=True))
CHILD = Table(
    "kit_ref_child",
    meta,
    Column("id", BigInteger, primary_key=True),
    Column("batch", BigInteger, nullable=False),
    Column("parent_id", BigInteger, ForeignKey("kit_ref_parent.id", ondelete="SET NULL")),
)


@pytest.fixture
def tables(db: Database) -> Iterator[Database]:
    meta.drop_all(db.engine)
    meta.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(insert(PARENT), [{"id": i} for i in (1, 2, 3)])
    yield db
    meta.drop_all(db.engine)


def children(rows: list[tuple[int, int | None]], batch: int = 1) -> Any:
    return insert(CHILD).values([{"id": i, "batch": batch, "parent_id": p} for i, p in rows])


def orphans(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(CHILD)
                .where(
                    CHILD.c.parent_id.is_not(None),
                    CHILD.c.parent_id.not_in(select(PARENT.c.id)),
                )
            )
            or 0
        )


def test_valid_rows_are_inserted(tables: Database) -> None:
    with tables.engine.begin() as conn:
        inserted = insert_checking_references_once(
            conn, children([(10, 1), (11, 2), (12, None)]), CHILD, CHILD.c.batch == 1
        )
        assert inserted == 3
    with tables.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CHILD)) == 3


def test_a_row_referencing_a_missing_row_fails_and_nothing_is_kept(tables: Database) -> None:
    expected: type[Exception] = (
        MissingReference if tables.engine.dialect.name == "postgresql" else IntegrityError
    )
    with (
        pytest.raises(expected, match=r"kit_ref_parent|FOREIGN KEY"),
        tables.engine.begin() as conn,
    ):
        insert_checking_references_once(
            conn, children([(10, 1), (11, 99)]), CHILD, CHILD.c.batch == 1
        )
    with tables.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CHILD)) == 0
    assert orphans(tables) == 0


def test_per_row_triggers_come_back_after_the_statement(tables: Database) -> None:
    """Replica mode covers the one statement: the next insert of the transaction is checked
    row by row again (an orphan fails at once, as a foreign-key violation)."""
    with pytest.raises(IntegrityError), tables.engine.begin() as conn:
        insert_checking_references_once(conn, children([(10, 1)]), CHILD, CHILD.c.batch == 1)
        conn.execute(children([(11, 99)], batch=2))


def test_without_the_privilege_the_per_row_checks_run(tables: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(kit_db, "_may_skip_row_triggers", lambda connection: False)
    with pytest.raises(IntegrityError), tables.engine.begin() as conn:
        insert_checking_references_once(conn, children([(11, 99)]), CHILD, CHILD.c.batch == 1)
    assert orphans(tables) == 0


def test_only_an_insert_is_taken(tables: Database) -> None:
    with pytest.raises(TypeError, match="INSERT"), tables.engine.begin() as conn:
        insert_checking_references_once(conn, delete(PARENT), CHILD, CHILD.c.batch == 1)


def test_a_concurrent_delete_waits_then_applies_to_the_new_rows(tables: Database) -> None:
    """The referenced rows are locked as the per-row check locks them: a delete of one waits
    for the inserting transaction; once it commits, the delete's ON DELETE SET NULL reaches
    the new rows (no orphan either way)."""
    if tables.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    failures: list[BaseException] = []

    def delete_parent(wait_ms: int) -> None:
        try:
            with tables.engine.begin() as other:
                other.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
                other.execute(delete(PARENT).where(PARENT.c.id == 2))
        except BaseException as exc:
            failures.append(exc)

    with tables.engine.begin() as conn:
        insert_checking_references_once(
            conn, children([(10, 1), (11, 2)]), CHILD, CHILD.c.batch == 1
        )
        waiter = threading.Thread(target=delete_parent, args=(300,))
        waiter.start()
        waiter.join(30)
        # the delete could not take the row while the insert's transaction is open
        assert len(failures) == 1 and isinstance(failures[0], OperationalError), failures
        assert "lock timeout" in str(failures[0])
    delete_parent(5000)
    assert len(failures) == 1, failures[1:]
    with tables.engine.connect() as conn:
        assert dict(conn.execute(select(CHILD.c.id, CHILD.c.parent_id)).all()) == {
            10: 1,
            11: None,
        }
    assert orphans(tables) == 0
