"""The workspace over a real store: one user per role, the app as ``shelfware serve`` builds
it, an in-process client (route and security tests) and, for the browser tests, the app on a
loopback port and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import UserCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.serve import create_app
from shelfware.store import Store

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Web:
    app: object
    store: Store
    clock: FrozenClock

    def client(self) -> TestClient:
        # "https" base: the session cookie is Secure, as in production behind TLS
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)  # type: ignore[arg-type]


@pytest.fixture
def web(db: Database, keys: KeyRing, clock: FrozenClock) -> Web:
    with db.transaction() as session:
        for role in Role:
            accounts.create_user(
                session, clock, UserCreate(username=role.value, password=PASSWORD, role=role)
            )
    store = Store(db=db, keys=keys)
    return Web(app=create_app(store=store, clock=clock), store=store, clock=clock)


def csrf_of(html: str) -> str:
    found = CSRF_META.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def signed_in(web: Web, role: str) -> tuple[TestClient, str]:
    """A client signed in as the user of ``role``, and its session's CSRF token."""
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)
    response = client.post(
        "/sign-in", data={"username": role, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return client, csrf_of(client.get("/profiles").text)


def chromium_missing() -> str | None:
    if os.environ.get("SHELFWARE_SKIP_BROWSER"):
        return "SHELFWARE_SKIP_BROWSER is set"
    if not shutil.which(CHROMIUM):
        return f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
def browser() -> Iterator[object]:
    why = chromium_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
