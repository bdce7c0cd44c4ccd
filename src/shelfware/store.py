"""Opening the store: the database (created or upgraded by Alembic) and the key ring."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shelfware.kit.crypto import KeyRing, KeyRingError, ensure_key_file, load_key_file
from shelfware.kit.db import Database
from shelfware.settings import Settings


class StoreNotReady(Exception):
    """The database is missing or behind the code's schema."""


# What the database may raise in any command (locked, disk full, connection lost): the faces
# map these to one line with ``database_error`` without importing SQLAlchemy themselves.
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError,)
# A value the database cannot hold or compare (NUL in a PostgreSQL string, an integer beyond
# BIGINT, a date out of its range): the input's fault, so a face answers it as bad input.
# The inputs are checked before; this is the net for any path that was not.
VALUE_ERRORS: tuple[type[Exception], ...] = (DataError,)
# The database is busy, not wrong: no pooled connection came free in time (SQLAlchemy's
# TimeoutError, "QueuePool limit ... timed out"), or SQLite's write lock stayed taken past
# the busy timeout. A face answers "retry shortly" (the API: 503 + Retry-After).
BUSY_ERRORS: tuple[type[Exception], ...] = (PoolTimeout,)
RETRY_AFTER_SECONDS = 2


def database_busy(exc: BaseException) -> bool:
    if isinstance(exc, BUSY_ERRORS):
        return True
    if isinstance(exc, OperationalError) and exc.orig is not None:
        text = str(exc.orig).lower()
        return "database is locked" in text or "database table is locked" in text
    return False


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("shelfware") / "migrations"))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def schema_is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


@dataclass
class Store:
    db: Database
    keys: KeyRing


def key_ring(settings: Settings, *, create: bool = False) -> KeyRing:
    if settings.secret_keys is not None:
        return KeyRing.parse(settings.secret_keys.get_secret_value())
    if create:
        return ensure_key_file(settings.key_file)
    return load_key_file(settings.key_file)


def database_error(exc: BaseException) -> str:
    """One line saying what the database driver or SQLAlchemy refused, without SQL or links."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).split("\n")[0].split(" (Background on this error")[0].strip()
    return text or type(cause).__name__


def open_database(url: str, settings: Settings | None = None) -> Database:
    """An engine for ``url``; a URL no installed driver understands is a configuration error.
    ``settings``: how long to wait for a pooled connection and for SQLite's write lock."""
    waits: dict[str, float] = {}
    if settings is not None:
        waits = {
            "pool_timeout": settings.db_pool_timeout_seconds,
            "busy_timeout": settings.db_busy_timeout_seconds,
        }
    try:
        return Database.from_url(url, **waits)
    except (ArgumentError, ValueError, ImportError) as exc:
        shown = url.split("://", 1)[0] + "://..." if "://" in url else "(not a URL)"
        raise StoreNotReady(
            f"SHELFWARE_DATABASE_URL {shown} is not a database URL shelfware can use "
            f"({database_error(exc)}); use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc


HOME_MODE = 0o700  # the data directory: its owner only
FILE_MODE = 0o600  # the SQLite database (and its journal, WAL and shared-memory files), keys
SQLITE_COMPANIONS = ("-journal", "-wal", "-shm")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def private_home(home: Path) -> None:
    """Create the data directory readable by its owner only, whatever the umask (and take
    group and other rights away from an existing one)."""
    home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
    os.chmod(home, HOME_MODE)


def private_database_files(url: str, *, create: bool = False) -> None:
    """The SQLite database file and its companions: owner read/write only, whatever the umask.

    With ``create``, the (empty) file is made with that mode before SQLite opens it, so it is
    never readable by others, not even for a moment; SQLite gives its journal, WAL and
    shared-memory files the database file's mode."""
    path = sqlite_file(url)
    if path is None:
        return
    if create and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        if candidate.exists():
            os.chmod(candidate, FILE_MODE)


def init_store(settings: Settings) -> Store:
    """``shelfware init``: create the data directory, the key ring and the schema."""
    try:
        private_home(settings.home)
        keys = key_ring(settings, create=True)
    except OSError as exc:
        raise StoreNotReady(
            f"cannot create the data directory or key ring in {settings.home}: "
            f"{exc.strerror or exc} (set SHELFWARE_HOME to a writable directory)"
        ) from exc
    db = open_database(settings.resolved_database_url, settings)
    try:
        private_database_files(settings.resolved_database_url, create=True)
        upgrade(db.engine)
        private_database_files(settings.resolved_database_url)
    except (SQLAlchemyError, OSError) as exc:
        db.dispose()
        raise StoreNotReady(
            f"cannot create or upgrade the database: {database_error(exc)} "
            "(is it a shelfware database, and writable?)"
        ) from exc
    return Store(db=db, keys=keys)


def open_store(settings: Settings) -> Store:
    """Open an initialised store; say what to do when it is not."""
    url = settings.resolved_database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    sqlite_path = parsed.database if parsed is not None and url.startswith("sqlite") else None
    if sqlite_path and sqlite_path != ":memory:" and not Path(sqlite_path).exists():
        raise StoreNotReady(f"no shelfware database at {sqlite_path}: run `shelfware init` first")
    db = open_database(url, settings)
    try:
        current = schema_is_current(db.engine)
    except Exception as exc:  # connection refused, not a database file...
        db.dispose()
        raise StoreNotReady(f"cannot open the database: {database_error(exc)}") from exc
    if not current:
        db.dispose()
        raise StoreNotReady(
            "the database is not initialised or is out of date: run `shelfware init`"
        )
    try:
        keys = key_ring(settings)
    except (KeyRingError, OSError) as exc:
        db.dispose()
        raise StoreNotReady(
            str(exc)
            if isinstance(exc, KeyRingError)
            else f"cannot read the key ring: {exc.strerror or exc}"
        ) from exc
    return Store(db=db, keys=keys)
