"""kit.keyset: a cursor carries its listing's name and the last row's sort values and refuses
anything else; ``after`` is the tuple order spelt out in SQL (checked against Python's tuple
comparison over every pair of a table with many ties); ``read`` takes the segments one after
the other with the LIMIT still wanted and stops asking once the page is full."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, select
from sqlalchemy.orm import Session

from shelfware.kit import keyset
from shelfware.ranges import MAX_ID

META = MetaData()
ROWS = Table(
    "rows",
    META,
    Column("id", Integer, primary_key=True),
    Column("a", String, nullable=False),
    Column("b", Integer, nullable=False),
)


@pytest.fixture
def session() -> Any:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    with Session(engine) as opened:
        values = itertools.product(["x", "y", "yy", "z"], [-1, 0, 3], range(3))
        opened.execute(
            ROWS.insert(), [{"id": i + 1, "a": a, "b": b} for i, (a, b, _) in enumerate(values)]
        )
        yield opened


def test_a_cursor_round_trips_and_refuses_what_it_did_not_make() -> None:
    made = keyset.encode("things", ["ann@x.test", "rally", 42])
    assert keyset.decode("things", made, (str, str, int)) == ("ann@x.test", "rally", 42)
    other = keyset.encode("other", ["ann@x.test", "rally", 42])
    for bad in (
        other,  # another listing's
        keyset.encode("things", ["ann", 42]),  # another shape
        keyset.encode("things", ["ann", "rally", "42"]),  # a number as text
        keyset.encode("things", ["ann", "rally", True]),  # a boolean is no id
        keyset.encode("things", ["a\x00b", "rally", 1]),  # NUL: PostgreSQL refuses it
        keyset.encode("things", ["ann", "rally", MAX_ID + 1]),  # beyond a BIGINT
        "not a cursor!",
        made[:-4],
        "",
        "x" * 20_000,
    ):
        with pytest.raises(keyset.CursorError):
            keyset.decode("things", bad, (str, str, int))


def test_after_is_the_tuple_order(session: Session) -> None:
    c = ROWS.c
    everything = list(session.execute(select(c.a, c.b, c.id).order_by(c.a, c.b, c.id)))
    assert len(everything) == 36
    for last in everything:
        found = session.execute(
            select(c.a, c.b, c.id)
            .where(keyset.after([c.a, c.b, c.id], tuple(last)))
            .order_by(c.a, c.b, c.id)
        ).all()
        assert found == [row for row in everything if tuple(row) > tuple(last)]
    one = session.execute(select(c.id).where(keyset.after([c.id], [30])).order_by(c.id)).all()
    assert [row[0] for row in one] == [31, 32, 33, 34, 35, 36]


def test_read_takes_the_segments_in_turn_and_stops_when_full(session: Session) -> None:
    c = ROWS.c
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    asked: list[str] = []

    def segments() -> Any:
        for name in ("x", "y", "yy", "z"):
            asked.append(name)
            yield select(c.id).where(c.a == name).order_by(c.id)

    rows = keyset.read(session, segments(), 10)
    assert [r[0] for r in rows] == list(range(1, 12))  # 9 of x, 2 of y: the page and one more
    assert asked == ["x", "y"]  # z and yy never asked
    assert len(seen) == 2 and all("LIMIT" in s for s in seen)
    assert keyset.read(session, [select(c.id).where(c.a == "none")], 5) == []


def test_cut_gives_the_page_and_the_cursor_of_its_last_row() -> None:
    assert keyset.cut([1, 2, 3], 3, "n", lambda r: [r]) == ([1, 2, 3], None)
    shown, cursor = keyset.cut([1, 2, 3, 4], 3, "n", lambda r: [r])
    assert shown == [1, 2, 3] and cursor is not None
    assert keyset.decode("n", cursor, (int,)) == (3,)
    assert keyset.cut([], 5, "n", lambda r: [r]) == ([], None)


def test_the_kit_bounds_are_the_stores_bounds() -> None:
    from shelfware import ranges

    assert (keyset.MAX_ID, keyset.MAX_TEXT) == (ranges.MAX_ID, ranges.MAX_TEXT)
