"""Opening the store: the database (created or upgraded by Alembic) and the key ring."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, SQLAlchemyError

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


def open_database(url: str) -> Database:
    """An engine for ``url``; a URL no installed driver understands is a configuration error."""
    try:
        return Database.from_url(url)
    except (ArgumentError, ValueError, ImportError) as exc:
        shown = url.split("://", 1)[0] + "://..." if "://" in url else "(not a URL)"
        raise StoreNotReady(
            f"SHELFWARE_DATABASE_URL {shown} is not a database URL shelfware can use "
            f"({database_error(exc)}); use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc


def init_store(settings: Settings) -> Store:
    """``shelfware init``: create the data directory, the key ring and the schema."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        keys = key_ring(settings, create=True)
    except OSError as exc:
        raise StoreNotReady(
            f"cannot create the data directory or key ring in {settings.home}: "
            f"{exc.strerror or exc} (set SHELFWARE_HOME to a writable directory)"
        ) from exc
    db = open_database(settings.resolved_database_url)
    try:
        upgrade(db.engine)
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
    db = open_database(url)
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
