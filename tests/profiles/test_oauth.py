"""The OAuth 2.0 authorization code flow with PKCE against a real authorization server (the
kit lab's) and a real loopback callback: the browser is simulated by following redirects."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shelfware.connectors.base import OAuthEndpoints
from shelfware.profiles.oauth import (
    AuthorizationError,
    LoopbackCallback,
    begin,
    check_callback,
    exchange,
)
from shelfware.sandbox.server import serve_in_thread

from ..connectors.toolkit.lab import LabState, create_lab

LAB = OAuthEndpoints("/oauth/authorize", "/oauth/token", "default")


@pytest.fixture
def lab() -> Iterator[tuple[str, LabState]]:
    state = LabState()
    with serve_in_thread(create_lab(state)) as server:
        yield f"{server.url}/api/1.0", state


async def browse(url: str) -> None:
    """What a person's browser does: open the URL, follow the redirect to the callback."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        await browser.get(url)


async def test_the_whole_dance_gives_tokens(lab: tuple[str, LabState]) -> None:
    profile_url, _ = lab
    async with LoopbackCallback("").running() as probe:
        port = probe.port  # a free port for the redirect URI
    pending = begin(profile_url, LAB, "lab-client", f"http://127.0.0.1:{port}/oauth/callback")
    assert "code_challenge_method=S256" in pending.url and "scope=default" in pending.url
    assert pending.verifier not in pending.url  # only the challenge travels
    callback = LoopbackCallback(pending.state, port=port)
    async with callback.running():
        await browse(pending.url)
        params = await callback.wait(timeout=5)
    code = check_callback(pending, params)
    tokens = await exchange(pending, code, "lab-client", "lab-secret")
    assert tokens.access_token == "granted-token" and tokens.refresh_token == "refresh-granted"
    assert tokens.expires_at is not None
    # a code works once
    with pytest.raises(AuthorizationError, match="invalid_grant"):
        await exchange(pending, code, "lab-client", "lab-secret")


async def test_denied_consent_and_forged_state_are_refused(lab: tuple[str, LabState]) -> None:
    profile_url, _ = lab
    pending = begin(profile_url, LAB, "lab-client", "http://127.0.0.1:1/oauth/callback")
    with pytest.raises(AuthorizationError, match="consent was denied"):
        check_callback(pending, {"state": pending.state, "error": "access_denied"})
    with pytest.raises(AuthorizationError, match="state does not match"):
        check_callback(pending, {"state": "forged", "code": "code-1"})
    with pytest.raises(AuthorizationError, match="no authorization code"):
        check_callback(pending, {"state": pending.state})


async def test_a_wrong_client_secret_says_what_to_check(lab: tuple[str, LabState]) -> None:
    profile_url, _ = lab
    async with LoopbackCallback("").running() as probe:
        port = probe.port
    pending = begin(profile_url, LAB, "lab-client", f"http://127.0.0.1:{port}/oauth/callback")
    callback = LoopbackCallback(pending.state, port=port)
    async with callback.running():
        await browse(pending.url)
        code = check_callback(pending, await callback.wait(timeout=5))
    with pytest.raises(AuthorizationError, match="check the client id and secret"):
        await exchange(pending, code, "lab-client", "not-the-secret")


async def test_the_callback_waits_only_so_long() -> None:
    callback = LoopbackCallback("s")
    async with callback.running():
        with pytest.raises(AuthorizationError, match="no redirect arrived"):
            await callback.wait(timeout=0.2)
