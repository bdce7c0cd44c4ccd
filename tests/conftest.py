"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when configured), a key ring,
a frozen clock, and the Rally sandbox served over real HTTP on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from hypothesis import settings
from sqlalchemy import text

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from shelfware.models import Base
from shelfware.store import upgrade

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# CI explores the same examples every run (a landing is never blocked by a new draw); elsewhere
# hypothesis draws fresh examples, which is how the property tests find new bugs.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
PG_URL = os.environ.get("SHELFWARE_TEST_DATABASE_URL")


@pytest.fixture(autouse=True, scope="session")
def _private_urls_allowed() -> Iterator[None]:
    """The sandboxes listen on loopback: allow private addresses for the session (the tests of
    the address rules unset it with `monkeypatch.delenv`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ALLOW_PRIVATE_ENV, "true")
        yield


def pytest_report_header(config: pytest.Config) -> str:
    return f"shelfware store: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


_pg_migrated = False


def _pg_database() -> Database:
    global _pg_migrated
    assert PG_URL is not None
    db = Database.from_url(PG_URL)
    if not _pg_migrated:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(db.engine)
        _pg_migrated = True
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    """A migrated, empty database: PostgreSQL when SHELFWARE_TEST_DATABASE_URL is set."""
    if PG_URL:
        database = _pg_database()
    else:
        database = Database.from_url(f"sqlite:///{tmp_path / 'test.db'}")
        upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing([Fernet.generate_key()])


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@dataclass
class RallySandbox:
    org: object
    app: object
    url: str  # the profile's connection URL

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.app.state.sandbox  # type: ignore[attr-defined]


@pytest.fixture
def rally_factory():  # type: ignore[no-untyped-def]
    """Start Rally sandboxes on loopback; all are stopped at the end of the test."""
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import parse_faults
    from shelfware.sandbox.server import serve_in_thread

    servers = []

    def start(users: int = 300, seed: int = 1, faults: str = "", latency_ms: float = 0):  # type: ignore[no-untyped-def]
        app, org = SANDBOXES["rally"](users, seed, NOW, latency_ms, parse_faults(faults))
        server = serve_in_thread(app)
        server.__enter__()
        servers.append(server)
        return RallySandbox(org, app, f"{server.url}/slm/webservice")

    yield start
    for server in servers:
        server.__exit__(None, None, None)
