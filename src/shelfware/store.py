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

from shelfware.kit.crypto import KeyRing, ensure_key_file, load_key_file
from shelfware.kit.db import Database
from shelfware.settings import Settings


class StoreNotReady(Exception):
    """The database is missing or behind the code's schema."""


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


def init_store(settings: Settings) -> Store:
    """``shelfware init``: create the data directory, the key ring and the schema."""
    settings.home.mkdir(parents=True, exist_ok=True)
    keys = key_ring(settings, create=True)
    db = Database.from_url(settings.resolved_database_url)
    upgrade(db.engine)
    return Store(db=db, keys=keys)


def open_store(settings: Settings) -> Store:
    """Open an initialised store; say what to do when it is not."""
    url = settings.resolved_database_url
    sqlite_path = make_url(url).database if url.startswith("sqlite") else None
    if sqlite_path and sqlite_path != ":memory:" and not Path(sqlite_path).exists():
        raise StoreNotReady(f"no shelfware database at {sqlite_path}: run `shelfware init` first")
    db = Database.from_url(url)
    try:
        current = schema_is_current(db.engine)
    except Exception as exc:  # connection refused, bad URL...
        raise StoreNotReady(f"cannot open the database: {exc}") from exc
    if not current:
        raise StoreNotReady(
            "the database is not initialised or is out of date: run `shelfware init`"
        )
    return Store(db=db, keys=key_ring(settings))
