"""A published Rally sandbox profile, the job context over the test database, and the key
ring as text (for `shelfware` run in a subprocess or in process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet

from shelfware.jobs.runner import JobContext
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.settings import Settings
from tests.helpers import published_rally


@pytest.fixture
def secret_keys() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def keys(secret_keys: str) -> KeyRing:
    return KeyRing.parse(secret_keys)


@pytest.fixture
def ctx(db: Database, keys: KeyRing, clock: FrozenClock) -> JobContext:
    return JobContext(db=db, keys=keys, clock=clock, settings=Settings(), heartbeat_seconds=0.05)


@dataclass
class Rally:
    sandbox: Any
    name: str = "rally"


@pytest.fixture
async def rally(db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any) -> Rally:
    sandbox = rally_factory(users=40, seed=5)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    return Rally(sandbox)


def database_url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)
