"""Exports the database writes: ``sql_csv_cells`` makes every cell spreadsheet-safe in SQL (text
neutralised as ``safe_cell`` does, instants in ISO 8601 UTC, booleans as True / False) and
``csv_chunks_of_cells`` writes each chunk ``streamed_chunks`` reads whole, on both stores."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, Numeric, String, Table, select

from shelfware.kit.csv_output import csv_chunks_of_cells, safe_cell, sql_csv_cells
from shelfware.kit.db import Database, UTCDateTime
from shelfware.kit.streaming import CHUNK_ROWS, streamed_chunks

pytestmark = pytest.mark.store

HOSTILE = ["=1+2", "  =SUM(A1)", "+x", "-3", "@a", "\tt", "\rr", "\nn", " x", "", "a=b", "ok", None]
T = Table(
    "csv_cells_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(100)),
    Column("flag", Boolean),
    Column("at", UTCDateTime),
    Column("price", Numeric(12, 2)),
)
AT = datetime(2026, 11, 20, 12, 0, 1, 250000, tzinfo=UTC)


@pytest.fixture
def probe(db: Database) -> Iterator[Database]:
    T.create(db.engine)
    rows = [
        {
            "id": i + 1,
            "name": HOSTILE[i % len(HOSTILE)],
            "flag": [True, False, None][i % 3],
            "at": None if i % 4 == 3 else AT + timedelta(seconds=i),
            "price": 1,
        }
        for i in range(CHUNK_ROWS + 5)
    ]
    with db.engine.begin() as conn:
        conn.execute(T.insert(), rows)
    yield db
    T.drop(db.engine)


def test_the_database_writes_safe_cells_and_each_chunk_is_written_whole(probe: Database) -> None:
    dialect = probe.engine.dialect.name
    statement = select(*sql_csv_cells(dialect, T.c.id, T.c.name, T.c.flag, T.c.at)).order_by(T.c.id)
    pieces = list(
        csv_chunks_of_cells(["id", "=name", "flag", "at"], streamed_chunks(probe, statement))
    )
    assert len(pieces) == 2  # a chunk a piece: flat memory however many rows
    header, *rows = list(csv.reader(io.StringIO("".join(pieces))))
    assert header == ["id", "'=name", "flag", "at"]  # the header is checked too
    assert len(rows) == CHUNK_ROWS + 5
    for i, (ident, name, flag, at) in enumerate(rows):
        assert ident == str(i + 1)
        assert name == safe_cell(HOSTILE[i % len(HOSTILE)]), (i, name)
        assert flag == ["True", "False", ""][i % 3]
        if i % 4 == 3:
            assert at == ""
        else:  # ISO 8601, UTC, the same text on both stores
            assert datetime.fromisoformat(at) == AT + timedelta(seconds=i)
            assert at.endswith(".250000+00:00") and at[10] == "T"


def test_a_column_the_writer_could_not_trust_is_refused(probe: Database) -> None:
    with pytest.raises(TypeError, match="price"):
        sql_csv_cells(probe.engine.dialect.name, T.c.price)


def test_no_row_is_the_header_alone() -> None:
    assert list(csv_chunks_of_cells(["a", "b"], iter([]))) == ["a,b\r\n"]
