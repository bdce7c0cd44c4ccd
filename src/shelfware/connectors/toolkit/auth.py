"""Authenticators: how a request proves who it is. Each is an `httpx.Auth`.

The catalogue, named as in the custom profile spec:

- `BearerAuth`: `Authorization: Bearer <token>` (Asana, Roadmunk, SCIM).
- `ApiKeyAuth`: a key in any header (Rally's `ZSESSIONID`, Okta's `Authorization: SSWS ...`
  with a prefix) or in a query parameter.
- `BasicAuth`: user name and password (or API key), RFC 7617.
- `OAuth2ClientCredentials`: a token source that gets access tokens from a token endpoint with
  the client credentials grant (RFC 6749 section 4.4), renewed before they expire.
- `OAuth2RefreshToken`: the token source of the authorization code flow: an access token kept
  fresh with its refresh token (RFC 6749 section 6), rotated refresh tokens handed to an
  `on_rotate` callback so the caller persists them; a refused refresh token raises
  `ReauthorizationRequired`.

Token-based authenticators take a `TokenSource` (or a plain string): the hook the OAuth 2.0
authorization code flow plugs into. On a 401 they ask the source for a fresh token once and
send the request again; a source that cannot refresh (a static key) lets the 401 through.
Every authenticator lists its `secrets()` so the HTTP client scrubs them from messages.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import httpx

from shelfware.connectors.base import AuthenticationError, ConnectorError
from shelfware.kit.netguard import guarded_async_client
from shelfware.kit.redact import register_secret

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

TOKEN_REFRESH_MARGIN = 60.0  # seconds before expiry a token is renewed


class TokenSource(Protocol):
    """Where a token-based authenticator gets its token."""

    async def token(self) -> str:
        """A token valid now (fetched or renewed as needed)."""
        ...

    async def refresh(self) -> str | None:
        """A new token after the server refused the current one; None if none can be had."""
        ...

    def secrets(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A fixed token (API key, personal access token)."""

    value: str

    async def token(self) -> str:
        return self.value

    async def refresh(self) -> str | None:
        return None

    def secrets(self) -> list[str]:
        return [self.value]


def token_source(value: str | TokenSource) -> TokenSource:
    return StaticToken(value) if isinstance(value, str) else value


class _TokenAuth(httpx.Auth):
    """Put a token into each request; on a 401 retry once with a refreshed token."""

    def __init__(self, source: str | TokenSource) -> None:
        self.source = token_source(source)

    def apply(self, request: httpx.Request, token: str) -> None:
        raise NotImplementedError

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, Any, None]:
        raise RuntimeError("shelfware authenticators are for the async client only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.source.token()
        self.apply(request, token)
        response = yield request
        if response.status_code == 401:
            fresh = await self.source.refresh()
            if fresh and fresh != token:
                self.apply(request, fresh)
                yield request

    def secrets(self) -> list[str]:
        return self.source.secrets()


class ApiKeyAuth(_TokenAuth):
    """A key in a header (`name: prefix + key`) or in the query string (`?name=key`)."""

    def __init__(
        self,
        source: str | TokenSource,
        *,
        name: str,
        location: Literal["header", "query"] = "header",
        prefix: str = "",
    ) -> None:
        super().__init__(source)
        if not name:
            raise ValueError("an API key needs the name of its header or query parameter")
        self.name = name
        self.location = location
        self.prefix = prefix

    def apply(self, request: httpx.Request, token: str) -> None:
        if self.location == "header":
            request.headers[self.name] = self.prefix + token
        else:
            request.url = request.url.copy_merge_params({self.name: token})


class BearerAuth(ApiKeyAuth):
    """`Authorization: Bearer <token>` (RFC 6750)."""

    def __init__(self, source: str | TokenSource) -> None:
        super().__init__(source, name="Authorization", prefix="Bearer ")


class BasicAuth(httpx.BasicAuth):
    """`Authorization: Basic base64(user:password)` (RFC 7617)."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self._secrets = [
            password,
            base64.b64encode(f"{username}:{password}".encode()).decode(),
        ]

    def secrets(self) -> list[str]:
        return list(self._secrets)


# --------------------------------------------------------------------------- OAuth 2.0


class TokenEndpointError(AuthenticationError):
    """A token endpoint refused the request (RFC 6749 section 5.2 error)."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


async def request_token(
    client: httpx.AsyncClient | None,
    token_url: str,
    form: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None,
    client_auth: str = "both",
) -> dict[str, Any]:
    """POST a grant to a token endpoint; the JSON answer, or `TokenEndpointError`.

    By default (`client_auth="both"`) the client authenticates with HTTP Basic
    (`client_secret_basic`, the RFC's default) and the same credentials in the form, which
    servers that want `client_secret_post` accept too; `"post"` sends them in the form only
    (the Microsoft identity platform's documented way), `"basic"` in the header only.
    Without a `client`, a short-lived one is used.
    """
    if client_auth not in ("both", "post", "basic"):
        raise ValueError(f"client_auth must be both, post or basic, not {client_auth!r}")
    body = {**form, "client_id": client_id} if client_id else dict(form)
    auth: httpx.Auth | None = None
    if client_secret is not None:
        if client_auth != "basic":
            body["client_secret"] = client_secret
        if client_auth != "post":
            auth = httpx.BasicAuth(client_id, client_secret)
    http = client or guarded_async_client(timeout=30.0)  # public addresses only
    try:
        response = await http.post(
            token_url,
            data=body,
            auth=auth or httpx.USE_CLIENT_DEFAULT,
            headers={"Accept": "application/json"},
        )
    except httpx.TransportError as error:
        raise ConnectorError(f"token endpoint {token_url} unreachable: {error}") from None
    finally:
        if client is None:
            await http.aclose()
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400 or not isinstance(payload, dict):
        code = payload.get("error") if isinstance(payload, dict) else None
        detail = payload.get("error_description") if isinstance(payload, dict) else None
        shown = ": ".join(str(p) for p in (code, detail) if p) or f"HTTP {response.status_code}"
        raise TokenEndpointError(f"token endpoint {token_url} refused: {shown}", error=code)
    if not isinstance(payload.get("access_token"), str) or not payload["access_token"]:
        raise TokenEndpointError(f"token endpoint {token_url} answered without an access_token")
    return payload


def expiry_of(payload: dict[str, Any], now: float) -> float | None:
    """When a token answer's access token expires (epoch seconds), if it says."""
    expires_in = payload.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return now + float(expires_in)
    return None


class RenewedToken:
    """A `TokenSource` whose access token comes from a grant (`_fetch`, which hands the
    answer to `_keep`): kept until `TOKEN_REFRESH_MARGIN` before it expires, fetched one at a
    time; every token issued is a secret (masked in every message and log line)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None
        self._issued: list[str] = []

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._expiring():
                await self._fetch()
            assert self._token is not None
            return self._token

    async def refresh(self) -> str | None:
        async with self._lock:
            await self._fetch()
            return self._token

    def _expiring(self) -> bool:
        return self._expires_at is not None and self._clock() >= (
            self._expires_at - TOKEN_REFRESH_MARGIN
        )

    def _keep(self, payload: dict[str, Any]) -> None:
        """The grant's answer: its access token (a secret from now on) and its expiry."""
        self._token = str(payload["access_token"])
        register_secret(self._token)
        self._issued.append(self._token)
        self._expires_at = expiry_of(payload, self._clock())

    async def _fetch(self) -> None:
        raise NotImplementedError


class OAuth2ClientCredentials(RenewedToken):
    """Access tokens from the client credentials grant, renewed before they expire."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        client_auth: str = "both",
        assertion: Callable[[str], str] | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        # a client assertion maker (RFC 7523: e.g. `CertificateAssertion`) instead of a secret
        self.assertion = assertion
        self._http = http
        super().__init__(clock)

    def secrets(self) -> list[str]:
        return [self.client_secret, *self._issued]

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        secret: str | None = self.client_secret
        if self.assertion is not None:
            form["client_assertion_type"] = JWT_BEARER
            form["client_assertion"] = self.assertion(self.token_url)
            secret = None
        payload = await request_token(
            self._http,
            self.token_url,
            form,
            client_id=self.client_id,
            client_secret=secret,
            client_auth=self.client_auth,
        )
        self._keep(payload)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Tokens of an authorization: what a profile stores (encrypted) between runs."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds


class ReauthorizationRequired(TokenEndpointError):
    """The refresh token was refused (revoked, expired, rotated away): a person must authorize
    the app again."""


class OAuth2RefreshToken:
    """An authorization's access token, refreshed before it expires or after a 401."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        tokens: TokenSet,
        *,
        on_rotate: Callable[[TokenSet], Awaitable[None]] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens = tokens
        self._on_rotate = on_rotate
        self._http = http
        self._clock = clock
        self._lock = asyncio.Lock()
        self._issued = [t for t in (tokens.access_token, tokens.refresh_token) if t]
        register_secret(*self._issued)

    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret, *self._issued) if s]

    async def token(self) -> str:
        async with self._lock:
            expires_at = self.tokens.expires_at
            if expires_at is not None and self._clock() >= expires_at - TOKEN_REFRESH_MARGIN:
                await self._refresh()
            return self.tokens.access_token

    async def refresh(self) -> str | None:
        async with self._lock:
            await self._refresh()
            return self.tokens.access_token

    async def _refresh(self) -> None:
        if not self.tokens.refresh_token:
            raise ReauthorizationRequired(
                "the access token expired and there is no refresh token: authorize again",
                error="invalid_grant",
            )
        try:
            payload = await request_token(
                self._http,
                self.token_url,
                {"grant_type": "refresh_token", "refresh_token": self.tokens.refresh_token},
                client_id=self.client_id,
                client_secret=self.client_secret,
            )
        except TokenEndpointError as error:
            if error.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                raise ReauthorizationRequired(
                    f"{error} (the authorization was revoked or expired): authorize again",
                    error=error.error,
                ) from None
            raise
        rotated = payload.get("refresh_token")
        fresh = replace(
            self.tokens,
            access_token=str(payload["access_token"]),
            refresh_token=str(rotated) if rotated else self.tokens.refresh_token,
            expires_at=expiry_of(payload, self._clock()),
        )
        for value in (fresh.access_token, fresh.refresh_token):
            if value and value not in self._issued:
                self._issued.append(value)
                register_secret(value)
        self.tokens = fresh
        if self._on_rotate is not None:
            await self._on_rotate(fresh)  # persist before the old refresh token is needed again
