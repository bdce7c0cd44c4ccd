"""Sessions kept in the database: a sign-out, a password change or a deactivation ends them in
every process and after a restart; cookies sealed for one purpose never open as another; the
sign-in limits and the client's address behind trusted proxies; sign-ins in the audit trail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shelfware.accounts import service as accounts
from shelfware.accounts import sessions
from shelfware.accounts.sessions import SignInLimits
from shelfware.audit.service import AuditQuery, list_events
from shelfware.jobs.runner import JobContext
from shelfware.jobs.tick import tick
from shelfware.kit.db import Database
from shelfware.models import SignInSession
from shelfware.serve import create_app
from shelfware.store import Store
from tests.conftest import NOW
from tests.web.conftest import PASSWORD, Web, csrf_of, signed_in

PROXY = "10.0.0.2"


def restarted(web: Web) -> Web:
    """Another app over the same database and keys, as a second process (or the same one
    after a restart) builds it: nothing shared in memory with the first."""
    url = web.store.db.engine.url.render_as_string(hide_password=False)
    store = Store(db=Database.from_url(url), keys=web.store.keys)
    return Web(app=create_app(store=store, clock=web.clock), store=store, clock=web.clock)


def with_cookie(web: Web, cookie: str) -> TestClient:
    client = web.client()
    client.cookies.set("shelfware_session", cookie)
    return client


def signed_in_page(client: TestClient) -> bool:
    response = client.get("/profiles")
    if response.status_code == 303:
        assert response.headers["location"].startswith("/sign-in")
        return False
    assert response.status_code == 200, response.text
    return True


def test_sign_out_in_one_app_ends_the_session_in_another_and_after_a_restart(web: Web) -> None:
    other = restarted(web)
    client, token = signed_in(web, "viewer")
    cookie = client.cookies["shelfware_session"]
    assert signed_in_page(with_cookie(other, cookie))  # one session, seen by both
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    assert not signed_in_page(with_cookie(other, cookie))
    assert not signed_in_page(with_cookie(restarted(web), cookie))
    assert not signed_in_page(with_cookie(web, cookie))


@contextmanager
def serving(db_url: str, keys: str, home: Path) -> Iterator[str]:
    """`shelfware serve` in its own process over the test database; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "SHELFWARE_HOME": str(home),
        "SHELFWARE_DATABASE_URL": db_url,
        "SHELFWARE_SECRET_KEYS": keys,
        "SHELFWARE_CLOCK": NOW.isoformat(),
        "SHELFWARE_JOBS_TICK_SECONDS": "86400",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "shelfware.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/sign-in", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read() if process.stderr else "") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cookie_header(response: httpx.Response) -> str:
    value = response.cookies.get("shelfware_session")  # Secure: sent by hand over http
    assert value, response.headers
    return f"shelfware_session={value}"


@pytest.mark.store
def test_sign_out_in_one_process_refuses_the_cookie_in_another_and_after_a_restart(
    web: Web, tmp_path: Path
) -> None:
    url = web.store.db.engine.url.render_as_string(hide_password=False)
    keys = ",".join(k.decode() for k in web.store.keys.keys)
    with serving(url, keys, tmp_path / "a") as first, serving(url, keys, tmp_path / "b") as second:
        visitor = httpx.get(f"{first}/sign-in")
        form = {"username": "viewer", "password": PASSWORD, "csrf_token": csrf_of(visitor.text)}
        signed = httpx.post(
            f"{first}/sign-in", data=form, headers={"cookie": _cookie_header(visitor)}
        )
        assert signed.status_code == 303, signed.text
        cookie = {"cookie": _cookie_header(signed)}
        page = httpx.get(f"{second}/profiles", headers=cookie)
        assert page.status_code == 200  # signed in on the first, known to the second
        out = httpx.post(
            f"{first}/sign-out", data={"csrf_token": csrf_of(page.text)}, headers=cookie
        )
        assert out.status_code == 303
        refused = httpx.get(f"{second}/profiles", headers=cookie)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/sign-in")
    with serving(url, keys, tmp_path / "c") as again:  # a restart
        refused = httpx.get(f"{again}/profiles", headers=cookie)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/sign-in")


def test_a_password_change_or_deactivation_ends_every_session_everywhere(web: Web) -> None:
    other = restarted(web)
    first, _ = signed_in(web, "viewer")
    second, _ = signed_in(other, "viewer")
    admin, _ = signed_in(web, "admin")
    with web.store.db.sessions() as session:
        assert sessions.open_sessions(session, web.clock, "viewer") == 2
    with web.store.db.transaction() as session:  # the CLI's `users password`
        accounts.set_password(session, web.clock, "viewer", "a brand new passphrase")
    assert not signed_in_page(first) and not signed_in_page(second)
    with web.store.db.sessions() as session:
        assert sessions.open_sessions(session, web.clock, "viewer") == 0
        assert sessions.open_sessions(session, web.clock, "admin") == 1
    assert signed_in_page(admin)
    with web.store.db.transaction() as session:
        accounts.set_user(session, web.clock, "admin", active=False)
    assert not signed_in_page(admin)


def _session_rows(web: Web) -> int:
    with web.store.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SignInSession)) or 0)


def test_ended_and_expired_sessions_are_pruned(web: Web) -> None:
    client, token = signed_in(web, "viewer")
    client.post("/sign-out", data={"csrf_token": token})
    assert _session_rows(web) == 1  # ended, kept until the next prune
    signed_in(web, "admin")  # every sign-in prunes
    assert _session_rows(web) == 1  # the admin's
    client, token = signed_in(web, "viewer")
    client.post("/sign-out", data={"csrf_token": token})
    web.clock.advance(sessions.SESSION_LIFETIME + timedelta(seconds=1))  # the admin's expired
    backend = web.app.state.workspace.extras["jobs"]  # type: ignore[attr-defined]
    report = tick(JobContext(db=web.store.db, keys=web.store.keys, clock=web.clock), backend)
    assert report.pruned["sessions"] == 2
    assert _session_rows(web) == 0


def test_the_session_cookie_holds_a_token_the_database_keeps_only_hashed(web: Web) -> None:
    client, _ = signed_in(web, "viewer")
    cookie = client.cookies["shelfware_session"]
    with web.store.db.sessions() as session:
        row = session.scalars(select(SignInSession)).one()
    assert len(row.token_hash) == 64 and row.token_hash not in cookie
    assert row.expires_at == NOW + timedelta(hours=8)
    assert row.user_agent == "testclient" and row.address == "testclient"


def test_a_cookie_sealed_for_another_purpose_is_refused_not_a_server_error(web: Web) -> None:
    client, token = signed_in(web, "viewer")
    session_cookie = client.cookies["shelfware_session"]
    out = client.post("/sign-out", data={"csrf_token": token})
    flash_cookie = out.cookies.get("shelfware_flash")
    assert flash_cookie
    # a flash cookie where the session cookie goes: a visitor (sign-in page), never a 500
    for path in ("/profiles", "/sign-in"):
        confused = with_cookie(web, flash_cookie)
        response = confused.get(path)
        assert response.status_code in (200, 303), (path, response.status_code)
    posted = with_cookie(web, flash_cookie).post("/sign-out", data={"csrf_token": "x"})
    assert posted.status_code == 403
    # a session cookie where the flash goes: no notice shown
    fresh, _ = signed_in(web, "admin")
    fresh.cookies.set("shelfware_flash", session_cookie)
    page = fresh.get("/profiles")
    assert page.status_code == 200
    assert session_cookie not in page.text and '"t"' not in page.text
    # garbage of every shape: a visitor
    for junk in ("", "x" * 5000, "gAAAAA" + "A" * 80, "%00"):
        assert with_cookie(web, junk).get("/profiles").status_code == 303
    # a non-ASCII CSRF token: refused, not a 500
    visitor = web.client()
    visitor.get("/sign-in")
    odd = visitor.post("/sign-in", data={"username": "a", "password": "b", "csrf_token": "é"})
    assert odd.status_code == 403


def _fail(client: TestClient, name: str, forwarded: str | None = None) -> int:
    token = csrf_of(client.get("/sign-in").text)
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return client.post(
        "/sign-in",
        data={"username": name, "password": "wrong guess", "csrf_token": token},
        headers=headers,
    ).status_code


def _sign_in(client: TestClient, name: str, forwarded: str | None = None) -> int:
    token = csrf_of(client.get("/sign-in").text)
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    status = client.post(
        "/sign-in",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        headers=headers,
    ).status_code
    client.cookies.clear()  # a visitor again for the next attempt
    return status


def _events(web: Web, action: str) -> list[dict[str, object]]:
    with web.store.db.sessions() as session:
        found = list_events(session, AuditQuery(action=action, limit=1000))
    return [{"actor": e.actor, **e.detail} for e in found]


def behind_proxy(web: Web, monkeypatch: pytest.MonkeyPatch, trusted: str) -> TestClient:
    monkeypatch.setenv("SHELFWARE_TRUSTED_PROXIES", trusted)
    app = create_app(store=web.store, clock=web.clock)
    return TestClient(
        app, base_url="https://testserver", follow_redirects=False, client=(PROXY, 40000)
    )


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    untrusted = behind_proxy(web, monkeypatch, "")
    assert _fail(untrusted, "admin", "198.51.100.7") == 401
    assert _events(web, "user.sign_in_failed")[0]["address"] == PROXY
    trusted = behind_proxy(web, monkeypatch, "10.0.0.0/8")
    assert _fail(trusted, "admin", "6.6.6.6, 198.51.100.7") == 401
    assert _events(web, "user.sign_in_failed")[0]["address"] == "198.51.100.7"
    assert _sign_in(trusted, "viewer", "203.0.113.5") == 303
    signed = _events(web, "user.sign_in")[0]
    assert (signed["actor"], signed["address"]) == ("web:viewer", "203.0.113.5")


def test_one_address_cannot_lock_a_user_out_from_another(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = behind_proxy(web, monkeypatch, "10.0.0.0/8")
    attacker, victim = "198.51.100.7", "203.0.113.5"
    for _ in range(5):
        assert _fail(client, "admin", attacker) == 401
    assert _fail(client, "admin", attacker) == 429  # that name, from there
    for n in range(15):  # spraying other names from the same place
        assert _fail(client, f"user{n}", attacker) == 401
    assert _fail(client, "someone-else", attacker) == 429  # that place, for every name
    assert _sign_in(client, "admin", victim) == 303  # the victim elsewhere is let in
    assert _sign_in(client, "viewer", victim) == 303
    lockouts = _events(web, "user.lockout")
    assert {(e["scope"], e["address"]) for e in lockouts} == {
        ("user_address", attacker),
        ("address", attacker),
    }
    assert all(e["actor"] == "web:anonymous" for e in lockouts)
    # the window passes: the attacker's place may try again
    web.clock.advance(timedelta(minutes=15, seconds=1))
    assert _fail(client, "admin", attacker) == 401


def test_many_addresses_guessing_one_name_lock_that_name_for_the_window(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = behind_proxy(web, monkeypatch, "10.0.0.0/8")
    client.app.state.web.limits = SignInLimits(per_user_address=5, per_address=20, per_user=6)  # type: ignore[attr-defined]
    for n in range(6):
        assert _fail(client, "admin", f"198.51.100.{n + 1}") == 401
    assert _sign_in(client, "admin", "203.0.113.5") == 429
    assert _sign_in(client, "viewer", "203.0.113.5") == 303  # other names are not affected
    assert [e["scope"] for e in _events(web, "user.lockout")] == ["user"]
    web.clock.advance(timedelta(minutes=15, seconds=1))
    assert _sign_in(client, "admin", "203.0.113.5") == 303


def test_sign_in_limits_hold_across_processes(web: Web) -> None:
    first = web.client()
    for _ in range(5):
        assert _fail(first, "admin") == 401
    second = restarted(web).client()
    assert _sign_in(second, "admin") == 429


def test_a_successful_sign_in_clears_the_failures_of_that_name_and_place(web: Web) -> None:
    client = web.client()
    for _ in range(4):
        assert _fail(client, "admin") == 401
    assert _sign_in(client, "admin") == 303
    for _ in range(4):
        assert _fail(client, "admin") == 401
    assert _sign_in(client, "admin") == 303


def test_sign_ins_failures_lockouts_and_sign_outs_are_in_the_audit_trail(web: Web) -> None:
    client = web.client()
    for _ in range(5):
        _fail(client, "admin")
    _fail(client, "nobody-here")
    other, token = signed_in(web, "viewer")
    other.post("/sign-out", data={"csrf_token": token})
    failed = _events(web, "user.sign_in_failed")
    assert len(failed) == 6
    assert {(e["actor"], e["username"], e["address"]) for e in failed} == {
        ("web:anonymous", "admin", "testclient"),
        ("web:anonymous", "nobody-here", "testclient"),
    }
    assert [(e["scope"], e["username"]) for e in _events(web, "user.lockout")] == [
        ("user_address", "admin")
    ]
    assert [e["actor"] for e in _events(web, "user.sign_in")] == ["web:viewer"]
    assert [e["actor"] for e in _events(web, "user.sign_out")] == ["web:viewer"]
    assert PASSWORD not in str(_events(web, "user")) and "wrong guess" not in str(
        _events(web, "user")
    )
