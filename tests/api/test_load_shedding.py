"""Under load the API sheds requests with a clear 503 + Retry-After (the standard error
body) instead of queueing them for 30 s: past SHELFWARE_API_MAX_CONCURRENCY requests at once
(after a short wait for a turn), and when no pooled connection comes free within the pool
timeout ("QueuePool limit ... timed out" was a 500 after 30 s). Over real HTTP (uvicorn)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.sandbox.server import serve_in_thread
from shelfware.serve import create_app
from shelfware.settings import Settings
from shelfware.store import Store, upgrade
from tests.api.conftest import BASE, error_of
from tests.web.conftest import PASSWORD, Web, signed_in


def _database(path: Path, **waits: float) -> Database:
    db = Database.from_url(f"sqlite:///{path}", **waits)  # type: ignore[arg-type]
    upgrade(db.engine)
    return db


def _token(db: Database, clock: FrozenClock) -> str:
    with db.transaction() as session:
        return accounts.create_token(session, clock, TokenCreate(name="t", role=Role.VIEWER))[0]


@pytest.fixture
def tmp_db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "load.db"


def test_past_the_concurrency_limit_a_quick_503_with_retry_after(
    tmp_db: Path, keys: KeyRing, clock: FrozenClock
) -> None:
    """Slow requests fill the API's turns (each waits on SQLite's write lock, held here);
    the extra ones are refused within the short queue wait, with Retry-After; once the lock
    is let go the admitted ones are answered; nothing is a 500."""
    db = _database(tmp_db, busy_timeout=20)
    token = _token(db, clock)
    settings = Settings(api_max_concurrency=2, api_queue_seconds=0.2)
    app = create_app(settings, store=Store(db=db, keys=keys), clock=clock)
    lock = sqlite3.connect(tmp_db, timeout=1, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")  # every request's token check writes: it must wait
    released = threading.Event()

    def let_go() -> None:
        time.sleep(2.5)
        lock.rollback()
        released.set()

    headers = {"Authorization": f"Bearer {token}"}
    with serve_in_thread(app) as server:  # type: ignore[arg-type]

        def call(_: int) -> tuple[int, float, httpx.Response]:
            started = time.monotonic()
            response = httpx.get(f"{server.url}{BASE}/subscriptions", headers=headers, timeout=30)
            return response.status_code, time.monotonic() - started, response

        threading.Thread(target=let_go, daemon=True).start()
        with ThreadPoolExecutor(10) as pool:
            first = [pool.submit(call, i) for i in range(2)]
            time.sleep(0.5)  # the two are inside, waiting on the lock
            extra = [pool.submit(call, i) for i in range(8)]
            refused = [f.result() for f in extra]
            admitted = [f.result() for f in first]
    lock.close()
    db.dispose()
    for status, took, response in refused:
        assert status == 503, response.text
        assert took < 2.0  # not queued behind the slow ones
        assert response.headers["retry-after"].isdigit()
        assert error_of(response)["code"] == "unavailable"
    assert released.is_set()
    assert [status for status, _, _ in admitted] == [200, 200]


def test_no_pooled_connection_in_time_is_a_503_not_a_500(
    tmp_db: Path, keys: KeyRing, clock: FrozenClock
) -> None:
    db = _database(tmp_db, pool_timeout=0.5)
    token = _token(db, clock)
    db.dispose()
    db = Database.from_url(  # one connection, no overflow: the test holds it
        f"sqlite:///{tmp_db}",
        pool_timeout=0.5,
        pool_size=1,
        max_overflow=0,  # type: ignore[arg-type]
    )
    app = create_app(Settings(), store=Store(db=db, keys=keys), clock=clock)
    with serve_in_thread(app) as server:  # type: ignore[arg-type]
        held = db.engine.connect()
        try:
            started = time.monotonic()
            response = httpx.get(
                f"{server.url}{BASE}/subscriptions",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            took = time.monotonic() - started
        finally:
            held.close()
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        assert error_of(response)["code"] == "unavailable"
        assert took < 5
        # the connection free again: served
        again = httpx.get(
            f"{server.url}{BASE}/subscriptions",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert again.status_code == 200, again.text
    db.dispose()


def test_the_lock_held_past_the_busy_timeout_is_a_503(
    tmp_db: Path, keys: KeyRing, clock: FrozenClock
) -> None:
    """SQLite's write lock held by another writer past the busy timeout: 503, not 500/409."""
    db = _database(tmp_db, busy_timeout=0.3)
    token = _token(db, clock)
    app = create_app(Settings(), store=Store(db=db, keys=keys), clock=clock)
    lock = sqlite3.connect(tmp_db, timeout=1, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    try:
        with serve_in_thread(app) as server:  # type: ignore[arg-type]
            response = httpx.get(
                f"{server.url}{BASE}/subscriptions",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
    finally:
        lock.rollback()
        lock.close()
        db.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()


def test_a_web_page_without_a_connection_in_time_is_a_503_too(
    tmp_db: Path, keys: KeyRing, clock: FrozenClock
) -> None:
    db = _database(tmp_db)
    with db.transaction() as session:
        accounts.create_user(
            session, clock, UserCreate(username="viewer", password=PASSWORD, role=Role.VIEWER)
        )
    db.dispose()
    db = Database.from_url(
        f"sqlite:///{tmp_db}",
        pool_timeout=0.5,
        pool_size=1,
        max_overflow=0,  # type: ignore[arg-type]
    )
    store = Store(db=db, keys=keys)
    web = Web(app=create_app(Settings(), store=store, clock=clock), store=store, clock=clock)
    client, _ = signed_in(web, "viewer")
    held = db.engine.connect()
    try:
        response = client.get("/subscriptions")
    finally:
        held.close()
    db.dispose()
    assert response.status_code == 503, response.text[:500]
    assert response.headers["retry-after"].isdigit()


@pytest.mark.store
def test_no_pooled_connection_in_time_on_either_store(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """The same over the test database (PostgreSQL when SHELFWARE_TEST_DATABASE_URL is set)."""
    token = _token(db, clock)
    url = db.engine.url.render_as_string(hide_password=False)
    small = Database.from_url(url, pool_timeout=0.5, pool_size=1, max_overflow=0)  # type: ignore[arg-type]
    app = create_app(Settings(), store=Store(db=small, keys=keys), clock=clock)
    headers = {"Authorization": f"Bearer {token}"}
    with serve_in_thread(app) as server:  # type: ignore[arg-type]
        held = small.engine.connect()
        try:
            response = httpx.get(f"{server.url}{BASE}/candidates", headers=headers, timeout=30)
        finally:
            held.close()
        again = httpx.get(f"{server.url}{BASE}/candidates", headers=headers, timeout=30)
    small.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert error_of(response)["code"] == "unavailable"
    assert again.status_code == 200, again.text
