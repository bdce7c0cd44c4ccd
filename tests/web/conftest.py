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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


# What a page must never say (issue 16: "messages speak the web's language"): a backtick, a
# command-line flag, a "shelfware <command>" to run.
CLI_WORDS = re.compile(
    r"`|(?<![\w-])--[a-z][a-z-]*|\bshelfware (?:audit|calendar|candidates|directory|"
    r"entitlements|jobs|profile|reconcile|report|reviews|rules|scim|serve|sync|tokens|users)\b"
)


class PlainWords:
    """ASGI middleware for the web tests: every HTML page the workspace renders is read for
    command-line words; one found fails the request (and the test) naming the page and the
    words, and is kept in ``found`` for the fixture's last check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.found: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        html = False
        tail = ""

        async def check(message: Message) -> None:
            nonlocal html, tail
            if message["type"] == "http.response.start":
                types = [v for k, v in message.get("headers", []) if k == b"content-type"]
                html = bool(types) and types[0].startswith(b"text/html")
            elif message["type"] == "http.response.body" and html:
                text = tail + message.get("body", b"").decode("utf-8", "replace")
                tail = text[-40:]
                said = CLI_WORDS.search(text)
                if said:
                    start = max(said.start() - 60, 0)
                    where = f"{scope.get('method')} {scope.get('path')}"
                    self.found.append(f"{where}: ...{text[start : said.end() + 60]}...")
                    raise AssertionError(f"CLI words on a page: {self.found[-1]}")
            await send(message)

        await self.app(scope, receive, check)


def plain_words(app: object) -> None:
    """Install the check (once) on a workspace app that has not served yet; the middleware
    made when the app first serves is kept as ``app.state.plain_words``."""
    state = getattr(app, "state", None)
    if state is None or getattr(app, "middleware_stack", None) is not None:
        return
    if getattr(state, "plain_words_installed", False):
        return
    state.plain_words_installed = True

    def make(inner: ASGIApp) -> PlainWords:
        state.plain_words = PlainWords(inner)
        return state.plain_words  # type: ignore[no-any-return]

    app.add_middleware(make)  # type: ignore[attr-defined]


@dataclass
class Web:
    app: object
    store: Store
    clock: FrozenClock

    def __post_init__(self) -> None:
        plain_words(self.app)

    def client(self) -> TestClient:
        # "https" base: the session cookie is Secure, as in production behind TLS
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)  # type: ignore[arg-type]


@pytest.fixture
def web(db: Database, keys: KeyRing, clock: FrozenClock) -> Iterator[Web]:
    with db.transaction() as session:
        for role in Role:
            accounts.create_user(
                session, clock, UserCreate(username=role.value, password=PASSWORD, role=role)
            )
    store = Store(db=db, keys=keys)
    made = Web(app=create_app(store=store, clock=clock), store=store, clock=clock)
    yield made
    check: PlainWords | None = getattr(made.app.state, "plain_words", None)  # type: ignore[attr-defined]
    assert check is None or not check.found, f"CLI words on pages: {check.found if check else ''}"


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
