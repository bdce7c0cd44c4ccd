"""Authenticators against the lab API: where each puts the credential, the client credentials
grant (token reuse, renewal on a 401, a refused client), and that no secret reaches a message."""

from __future__ import annotations

import base64

import pytest

from shelfware.connectors.base import AuthenticationError
from shelfware.connectors.toolkit import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    ReauthorizationRequired,
    TokenEndpointError,
    TokenSet,
    decode,
    send,
)

from .conftest import Lab

KEY = "_sEcReT-lab-key-123"


async def echo(lab: Lab, auth: object) -> dict[str, dict[str, str]]:
    http = lab.client(auth=auth)
    try:
        return decode(http, await send(http, "GET", "/echo"), "echo")  # type: ignore[no-any-return]
    finally:
        await http.aclose()


async def test_bearer_api_key_and_basic_put_the_credential_where_asked(lab: Lab) -> None:
    seen = await echo(lab, BearerAuth(KEY))
    assert seen["headers"]["authorization"] == f"Bearer {KEY}"
    seen = await echo(lab, ApiKeyAuth(KEY, name="ZSESSIONID"))
    assert seen["headers"]["zsessionid"] == KEY and "authorization" not in seen["headers"]
    seen = await echo(lab, ApiKeyAuth(KEY, name="Authorization", prefix="SSWS "))
    assert seen["headers"]["authorization"] == f"SSWS {KEY}"
    seen = await echo(lab, ApiKeyAuth(KEY, name="api_key", location="query"))
    assert seen["query"] == {"api_key": KEY} and "zsessionid" not in seen["headers"]
    seen = await echo(lab, BasicAuth("ada", KEY))
    expected = base64.b64encode(f"ada:{KEY}".encode()).decode()
    assert seen["headers"]["authorization"] == f"Basic {expected}"


async def test_secrets_of_the_authenticator_never_reach_an_error(lab: Lab) -> None:
    http = lab.client(auth=ApiKeyAuth(KEY, name="api_key", location="query"))
    try:
        with pytest.raises(Exception) as caught:
            await send(http, "GET", f"/missing?echo={KEY}")
    finally:
        await http.aclose()
    assert "404" in str(caught.value) and KEY not in str(caught.value)


async def test_client_credentials_token_is_fetched_once_and_reused(lab: Lab) -> None:
    source = OAuth2ClientCredentials(f"{lab.url}/oauth/token", "lab-client", "lab-secret")
    http = lab.client(auth=BearerAuth(source))
    try:
        for _ in range(3):
            body = decode(http, await send(http, "GET", "/protected"), "protected")
            assert body == {"ok": True, "token": "lab-token-1"}
        assert lab.state.tokens_issued == 1
        # the server forgets the token (revoked, rotated): one 401, a fresh token, success
        lab.state.valid_tokens.clear()
        body = decode(http, await send(http, "GET", "/protected"), "protected")
        assert body["token"] == "lab-token-2" and lab.state.tokens_issued == 2
        assert "lab-token-2" not in http.redactor.redact("x lab-token-2 y")
    finally:
        await http.aclose()


async def test_client_credentials_token_is_renewed_before_it_expires(lab: Lab) -> None:
    now = [1_000.0]
    lab.state.token_lifetime = 120
    source = OAuth2ClientCredentials(
        f"{lab.url}/oauth/token", "lab-client", "lab-secret", clock=lambda: now[0]
    )
    assert await source.token() == "lab-token-1"
    now[0] += 30
    assert await source.token() == "lab-token-1"
    now[0] += 45  # within a minute of expiry: renewed ahead of time
    assert await source.token() == "lab-token-2"


async def test_a_refused_client_is_a_clear_authentication_error(lab: Lab) -> None:
    source = OAuth2ClientCredentials(f"{lab.url}/oauth/token", "lab-client", "wrong-secret-99")
    http = lab.client(auth=BearerAuth(source))
    try:
        with pytest.raises(TokenEndpointError) as caught:
            await send(http, "GET", "/protected")
    finally:
        await http.aclose()
    assert isinstance(caught.value, AuthenticationError)
    assert caught.value.error == "invalid_client"
    assert "invalid_client: unknown client" in str(caught.value)
    assert "wrong-secret-99" not in str(caught.value)


async def test_a_static_key_is_not_retried_on_401(lab: Lab) -> None:
    http = lab.client(auth=BearerAuth("not-a-valid-token"))
    try:
        with pytest.raises(AuthenticationError, match="401"):
            await send(http, "GET", "/protected")
    finally:
        await http.aclose()
    assert http.stats.requests == 1


async def test_refresh_token_keeps_the_access_token_fresh_and_hands_over_rotations(
    lab: Lab,
) -> None:
    now = [5_000.0]
    persisted: list[TokenSet] = []

    async def persist(tokens: TokenSet) -> None:
        persisted.append(tokens)

    lab.state.valid_tokens = {"granted-token"}
    source = OAuth2RefreshToken(
        f"{lab.url}/oauth/token",
        "lab-client",
        "lab-secret",
        TokenSet("granted-token", "refresh-0", expires_at=now[0] + 3600),
        on_rotate=persist,
        clock=lambda: now[0],
    )
    http = lab.client(auth=BearerAuth(source))
    try:
        body = decode(http, await send(http, "GET", "/protected"), "protected")
        assert body["token"] == "granted-token" and persisted == []
        now[0] += 3600  # the access token expired: refreshed before the request
        body = decode(http, await send(http, "GET", "/protected"), "protected")
        assert body["token"] == "lab-token-1"
        assert [t.refresh_token for t in persisted] == ["refresh-1"]  # the rotation, persisted
        lab.state.valid_tokens.clear()  # revoked server-side: a 401 refreshes once more
        body = decode(http, await send(http, "GET", "/protected"), "protected")
        assert body["token"] == "lab-token-2" and persisted[-1].refresh_token == "refresh-2"
        # the refresh token is revoked too: the person must authorize again
        lab.state.refresh_tokens.clear()
        lab.state.valid_tokens.clear()
        with pytest.raises(ReauthorizationRequired, match="authorize again"):
            await send(http, "GET", "/protected")
    finally:
        await http.aclose()
