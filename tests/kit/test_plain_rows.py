"""`plain_rows`: a Core select read through the driver gives the rows SQLAlchemy gives, with
its bound parameters (positional on SQLite, named on PostgreSQL) and LIKE's ``%`` intact."""

from __future__ import annotations

import pytest
from sqlalchemy import func, literal, select, union_all

from shelfware.kit.db import plain_rows


@pytest.mark.store
def test_plain_rows_are_the_rows_sqlalchemy_reads(db) -> None:  # type: ignore[no-untyped-def]
    first = select(literal(1).label("n"), literal("50% _off").label("t"), literal(None).label("x"))
    second = select(literal(2), func.lower(literal("A%B")), literal(7)).where(
        literal("a%b").like("a%"), literal(3) > literal(2)
    )
    third = select(literal(3), literal("no"), literal(None)).where(literal("ab").like("%_@_%"))
    query = union_all(first, second, third)
    with db.engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(query)]
        got = list(plain_rows(connection, query, batch=1))
    assert sorted(got, key=lambda r: r[0]) == sorted(expected, key=lambda r: r[0])
    assert sorted(got, key=lambda r: r[0]) == [(1, "50% _off", None), (2, "a%b", 7)]
