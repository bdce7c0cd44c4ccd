"""Database engine and transactions: SQLite (WAL) by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    Engine,
    create_engine,
    event,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Dialect, Result
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored as naive UTC, always returned aware UTC.

    One storage format on every engine keeps comparisons in SQL correct (SQLite compares the
    text form), and domain code never meets a naive datetime.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware UTC instant is needed")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        instant: datetime = value
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)


BUSY_TIMEOUT_SECONDS = 30.0
POOL_TIMEOUT_SECONDS = 30.0  # SQLAlchemy's default


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return pragmas


def make_engine(
    url: str,
    *,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
    busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout. A pooled
    engine waits at most ``pool_timeout`` seconds for a connection (then SQLAlchemy's
    ``TimeoutError``); SQLite waits at most ``busy_timeout`` for another writer's lock."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        else:
            kwargs.setdefault("pool_timeout", pool_timeout)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(round(busy_timeout * 1000)))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", pool_timeout)
    return create_engine(url, **kwargs)


class Database:
    """An engine and its session factory. The caller owns each transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """The rows an ``INSERT``/``UPDATE``/``DELETE`` matched: DML statements return a
    ``CursorResult``, which is where ``rowcount`` lives (``Session.execute`` is typed as
    returning a plain ``Result``)."""
    return cast("CursorResult[Any]", result).rowcount


def insert_for(dialect_name: str, table: Any) -> Any:
    """A dialect ``INSERT`` that supports ``on_conflict_do_*`` (SQLite and PostgreSQL)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise NotImplementedError(f"shelfware supports SQLite and PostgreSQL, not {dialect_name}")


def whole_days_between(dialect_name: str, later: Any, earlier: Any) -> Any:
    """SQL for the whole days from ``earlier`` to ``later`` (both UTC instants)."""
    from sqlalchemy import Integer, cast, extract, func

    if dialect_name == "postgresql":
        return cast(func.floor(extract("epoch", later - earlier) / 86400), Integer)
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _sqlite_instant(value: datetime | None) -> str | None:
    """An aware instant in the text form SQLAlchemy's SQLite DateTime stores (naive UTC,
    always six digits of microseconds)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset: one call fewer than dropping the
    # zone first (a first sync converts a few hundred thousand instants)
    return value.isoformat(" ", "microseconds")[:-6]


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)


def driver_instant(dialect_name: str) -> Callable[[datetime | None], Any]:
    """How `bulk_insert` hands an aware instant to the driver: the value ``UTCDateTime``
    stores (SQLite: its text form; PostgreSQL: naive UTC). For callers that build rows in one
    pass and insert them without ``instants``."""
    if dialect_name == "sqlite":
        return _sqlite_instant
    if dialect_name == "postgresql":
        return _naive_utc
    raise NotImplementedError(f"shelfware supports SQLite and PostgreSQL, not {dialect_name}")


def bulk_insert(
    connection: Any,
    table: Any,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    *,
    instants: frozenset[int] = frozenset(),
) -> None:
    """Insert many rows fast through the raw driver: ``executemany`` on SQLite, ``COPY`` on
    PostgreSQL. ``instants`` are the positions of aware-datetime columns; they are stored in
    the same form ``UTCDateTime`` uses. Rows must not conflict with existing keys.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    names = ", ".join(columns)
    convert = driver_instant(dialect)
    if instants:
        positions = sorted(instants)

        def converted(row: tuple[Any, ...]) -> tuple[Any, ...]:
            values = list(row)
            for i in positions:
                values[i] = convert(values[i])
            return tuple(values)

        rows = [converted(row) for row in rows]
    raw = connection.connection.driver_connection
    if dialect == "sqlite":
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        return
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def plain_rows(connection: Any, query: Any, batch: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """The rows of a Core select as the driver's plain tuples, fetched `batch` at a time: for
    reads of 100,000s of rows of plain columns (text, numbers) where building a Row per row
    costs more than the query (measured: 0.09 s against 0.16-0.28 s for 100,000 rows on
    SQLite). No type conversion is applied: select only columns whose driver value is the
    value wanted. Memory holds one batch."""
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.params
    if compiled.positiontup is not None:
        params = [params[name] for name in compiled.positiontup]
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


SQLITE_DEFAULT_CACHE_KIB = 2000


@contextmanager
def large_cache(connection: Any, mebibytes: int = 64) -> Iterator[None]:
    """More memory for one set-based transaction over many rows. SQLite: a larger page cache
    (with the default 2 MiB, index probes miss once the tables outgrow it and the cost grows
    faster than the rows; measured: a 300,000-user switch-over took half the time with 64 MiB;
    it fills only as pages are read, and shrinks back to the default afterwards). PostgreSQL:
    ``work_mem`` for the rest of the transaction (``SET LOCAL``; with the default 4 MB,
    grouping and joining 100,000 emails spill to disk), the server's setting after it."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{mebibytes:d}MB'")
        yield
        return
    if dialect != "sqlite":
        yield
        return
    connection.exec_driver_sql(f"PRAGMA cache_size=-{mebibytes * 1024}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_DEFAULT_CACHE_KIB}")


def refresh_statistics(connection: Any, *table_names: str, columns: Sequence[str] = ()) -> None:
    """Let PostgreSQL's planner see tables that just grew in bulk (a fresh 100k-row staging
    or subscription table would otherwise be planned as empty: nested loops, seconds lost).
    ``columns``: only those columns' statistics (the row count is always refreshed); the
    statistics of long text columns cost most of an ``ANALYZE`` and seldom change a plan."""
    if connection.dialect.name == "postgresql":
        which = f" ({', '.join(columns)})" if columns else ""
        for name in table_names:
            connection.exec_driver_sql(f"ANALYZE {name}{which}")


def lock_rows(session: Session, id_column: Any, ids: Sequence[int]) -> None:
    """Serialise the transactions that lock any of these rows, until this one ends.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the rows, in id order (two lockers never
    deadlock); the statements after it see every transaction committed before the lock was
    granted (READ COMMITTED). SQLite has one writer at a time: a write (an ``UPDATE`` that
    changes nothing) takes the database's write lock, waiting up to ``busy_timeout``. It must be
    the transaction's first statement, so that the reads after it see every commit before it
    (a read first would pin an older snapshot).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(id_column).where(id_column.in_(wanted)).order_by(id_column).with_for_update()
        )
    else:
        session.execute(
            update(id_column.table).where(id_column.in_(wanted)).values({id_column: id_column})
        )


class MissingReference(RuntimeError):
    """Rows written without per-row foreign-key checks reference a row that does not exist."""


def _may_skip_row_triggers(connection: Any) -> bool:
    """Whether this role may set ``session_replication_role`` (a superuser, or on PostgreSQL
    15+ a role granted ``SET ON PARAMETER session_replication_role``)."""
    if connection.exec_driver_sql("SHOW is_superuser").scalar() == "on":
        return True
    if int(connection.exec_driver_sql("SHOW server_version_num").scalar()) < 150000:
        return False
    return bool(
        connection.exec_driver_sql(
            "SELECT has_parameter_privilege('session_replication_role', 'SET')"
        ).scalar()
    )


def _only_foreign_key_triggers(connection: Any, table: Any) -> bool:
    """The table has no trigger of its own (replica mode would skip it too)."""
    count = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %(name)s::regclass AND NOT tgisinternal",
        {"name": table.name},
    ).scalar()
    return bool(count == 0)


def insert_checking_references_once(
    connection: Any, statement: Any, table: Any, written: Any
) -> int:
    """Run one bulk ``INSERT`` into ``table`` whose foreign keys are checked once for the set
    of rows instead of by a trigger per row (PostgreSQL: three triggers a row were a quarter
    of a 100,000-row insert), with the same guarantee. Returns how many rows it inserted.

    ``written`` is a condition that every row the statement inserts meets (it may hold
    others: they are checked too). On PostgreSQL, when the role may set
    ``session_replication_role`` and the table has no trigger of its own, the statement runs
    in replica mode (no per-row triggers), then, for each foreign key of ``table``:

    1. the referenced rows of the ``written`` rows are locked ``FOR KEY SHARE``, as the
       per-row check locks them (a concurrent delete or key change waits for this
       transaction, then sees its rows: ``ON DELETE`` actions apply to them), except the
       rows this transaction wrote itself (nobody else can delete those before it ends);
    2. a ``written`` row whose referenced row does not exist raises ``MissingReference``
       (the caller's transaction is then rolled back: nothing is kept).

    Elsewhere (SQLite, a role without the privilege, a table with a foreign key of several
    columns) the statement runs as it is, with the per-row checks. Only an ``INSERT``:
    replica mode would also skip the ``ON DELETE`` actions of a ``DELETE`` or ``UPDATE``."""
    if not getattr(statement, "is_insert", False):
        raise TypeError("insert_checking_references_once runs an INSERT only")
    statement = statement.execution_options(preserve_rowcount=True)
    if (
        connection.dialect.name != "postgresql"
        or any(len(key.columns) > 1 for key in table.foreign_key_constraints)  # one column each
        or not _may_skip_row_triggers(connection)
        or not _only_foreign_key_triggers(connection, table)
    ):
        return rowcount(connection.execute(statement))
    # SET LOCAL: should the statement fail, the rollback that follows restores the role
    connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    inserted = rowcount(connection.execute(statement))
    connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
    for key in table.foreign_keys:
        column, referenced = key.parent, key.column
        parent = referenced.table.alias("referenced")
        target = parent.c[referenced.name]
        references = select(column).where(written, column.is_not(None))
        mine = literal_column("referenced.xmin") == literal_column("pg_current_xact_id()::xid")
        connection.execute(
            select(target).where(target.in_(references), ~mine).with_for_update(key_share=True)
        )
        missing = connection.execute(
            select(func.count())
            .select_from(table)
            .where(written, column.is_not(None), ~exists().where(target == column))
        ).scalar()
        if missing:
            raise MissingReference(
                f"{missing} new {table.name} rows reference a {referenced.table.name} "
                f"that does not exist ({column.name})"
            )
    return inserted
