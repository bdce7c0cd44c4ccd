"""Reading many rows with flat memory: one query fetched a chunk at a time (``yield_per``: a
server-side cursor on PostgreSQL, SQLite's own stepping), or a keyset-paged listing a page per
short read session. Exports (CSV downloads) read through here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from shelfware.kit.db import Database

CHUNK_ROWS = 2000  # rows a database round trip carries
T = TypeVar("T")
C = TypeVar("C")


def streamed(
    db: Database, statement: Any, row: Callable[[Any], Iterable[Any]] = tuple
) -> Iterator[Iterable[Any]]:
    """Every row of ``statement`` in one read session, fetched ``CHUNK_ROWS`` at a time."""
    with db.sessions() as session:
        # Core, not the ORM: plain rows, no identity map, a server-side cursor on PostgreSQL
        result = session.connection().execute(statement.execution_options(yield_per=CHUNK_ROWS))
        for found in result:
            yield row(found)


def cursor_chunks(
    session: Session, statement: Any, chunk: int = CHUNK_ROWS, name: str = "streamed"
) -> Iterator[Sequence[Any]]:
    """The rows of ``statement``, ``chunk`` at a time, straight from the driver's cursor (a
    server-side cursor named ``name`` on PostgreSQL): plain tuples, no result processing, so
    only for columns that need none (text and integers the database formats, as
    ``kit.csv_output.sql_csv_cells`` writes them)."""
    connection = session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    raw: Any = connection.connection.dbapi_connection
    cursor: Any
    if dialect.name == "postgresql":
        cursor = raw.cursor(name=name)
        cursor.itersize = chunk
        cursor.execute(str(compiled), params)
    else:
        cursor = raw.cursor()
        cursor.execute(str(compiled), [params[key] for key in compiled.positiontup or ()])
    try:
        while rows := cursor.fetchmany(chunk):
            yield rows
    finally:
        cursor.close()


def streamed_chunks(db: Database, statement: Any) -> Iterator[Sequence[Any]]:
    """Every row of ``statement`` in one read session, ``CHUNK_ROWS`` at a time, from the
    driver's cursor (`cursor_chunks`: for a writer that takes a chunk whole)."""
    with db.sessions() as session:
        yield from cursor_chunks(session, statement)


def paged(
    db: Database, fetch: Callable[[Any, C | None], tuple[Sequence[T], C | None]]
) -> Iterator[T]:
    """Every item of a keyset-paged listing: ``fetch(session, cursor)`` returns a page and the
    next cursor (None at the end); each page is read in its own short session."""
    cursor: C | None = None
    while True:
        with db.sessions() as session:
            items, cursor = fetch(session, cursor)
        yield from items
        if cursor is None:
            return
