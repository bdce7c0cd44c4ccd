"""OAuth 2.0 authorization code with PKCE (RFC 6749 section 4.1, RFC 7636), for every connector
that declares `oauth` endpoints (Rally, Asana, custom specs).

The flow: `begin()` makes the authorization URL (random `state`, S256 code challenge) for a
person to open; the app redirects their browser to a loopback callback (`LoopbackCallback`,
or `/oauth/callback` of `shelfware serve`), which checks `state` and hands back the code;
`exchange()` trades code and verifier for tokens at the token endpoint. The tokens are stored
in the profile's encrypted credential by the profile service; refreshing them later is the
connector kit's `OAuth2RefreshToken`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import uvicorn
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shelfware.connectors.base import OAuthEndpoints
from shelfware.connectors.toolkit import TokenEndpointError, TokenSet, request_token
from shelfware.connectors.toolkit.auth import expiry_of
from shelfware.connectors.toolkit.paging import base_of
from shelfware.kit.netguard import is_loopback_host
from shelfware.kit.redact import mask_url

CALLBACK_PATH = "/oauth/callback"
DEFAULT_CALLBACK_PORT = 8765
CALLBACK_TIMEOUT = 300.0  # seconds a person has to consent


class AuthorizationError(Exception):
    """The authorization did not complete; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """What is needed to finish an authorization once the redirect comes back."""

    url: str  # for the person to open
    state: str
    verifier: str
    redirect_uri: str
    token_url: str
    created: float


def check_redirect_uri(redirect_uri: str) -> str:
    """Where the app may send the browser back with the code: https://, or http:// to a
    loopback address (RFC 8252 section 7.3); absolute, no credentials, no fragment."""
    try:
        parts = urlsplit(redirect_uri)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or not redirect_uri.isprintable()
        or any(c.isspace() for c in redirect_uri)
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username is not None
        or parts.fragment
        or "#" in redirect_uri
    ):
        raise AuthorizationError(
            "the OAuth redirect_uri must be an absolute https:// URL (or http:// to a loopback "
            "address), without credentials or fragment"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise AuthorizationError(
            f"the OAuth redirect_uri {mask_url(redirect_uri)!r} uses http:// to a host that is "
            "not loopback: the code would cross the network in clear; use https:// "
            "(or http://127.0.0.1 for a local callback)"
        )
    return redirect_uri


def begin(
    profile_url: str,
    endpoints: OAuthEndpoints,
    client_id: str,
    redirect_uri: str,
    *,
    clock: float | None = None,
) -> PendingAuthorization:
    """The authorization URL, with a fresh `state` and PKCE verifier.

    The endpoints are paths on the profile URL's host (Rally: `/login/oauth2/auth`; Asana:
    `/-/oauth_authorize`), so a profile pointed at a sandbox authorizes against it.
    """
    if not client_id:
        raise AuthorizationError("the profile has no OAuth client id (--client-id)")
    check_redirect_uri(redirect_uri)
    base = base_of(profile_url)
    state = generate_token(32)
    verifier = generate_token(64)
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
        ("code_challenge", create_s256_code_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ]
    if endpoints.scope:
        params.append(("scope", endpoints.scope))
    return PendingAuthorization(
        url=add_params_to_uri(base + endpoints.authorize_path, params),
        state=state,
        verifier=verifier,
        redirect_uri=redirect_uri,
        token_url=base + endpoints.token_path,
        created=clock if clock is not None else time.time(),
    )


def check_callback(pending: PendingAuthorization, params: dict[str, str]) -> str:
    """The code from a redirect's query, after checking `state`; raises with the reason."""
    state = params.get("state", "")
    if not hmac.compare_digest(state, pending.state):
        raise AuthorizationError(
            "the callback's state does not match this authorization (a forged or stale "
            "redirect); nothing was stored: run `shelfware profile authorize` again"
        )
    error = params.get("error")
    if error:
        detail = params.get("error_description")
        why = f"{error}: {detail}" if detail else error
        if error == "access_denied":
            raise AuthorizationError(
                f"consent was denied in the app ({why}); nothing was stored: run "
                "`shelfware profile authorize` again and approve access"
            )
        raise AuthorizationError(f"the app refused the authorization ({why})")
    code = params.get("code")
    if not code:
        raise AuthorizationError("the callback carried no authorization code")
    return code


async def exchange(
    pending: PendingAuthorization,
    code: str,
    client_id: str,
    client_secret: str | None,
    *,
    http: httpx.AsyncClient | None = None,
    now: float | None = None,
) -> TokenSet:
    """Trade the code (and the PKCE verifier) for tokens."""
    try:
        payload = await request_token(
            http,
            pending.token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.verifier,
            },
            client_id=client_id,
            client_secret=client_secret,
        )
    except TokenEndpointError as error:
        hint = (
            "check the client id and secret of the OAuth app"
            if error.error == "invalid_client"
            else "run `shelfware profile authorize` again"
        )
        raise AuthorizationError(f"{error}; {hint}") from None
    refresh = payload.get("refresh_token")
    return TokenSet(
        access_token=str(payload["access_token"]),
        refresh_token=str(refresh) if refresh else None,
        expires_at=expiry_of(payload, now if now is not None else time.time()),
    )


class LoopbackCallback:
    """A one-shot HTTP server on the loopback interface that receives the redirect."""

    def __init__(self, pending_state: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._expected_state = pending_state
        self._result: asyncio.Future[dict[str, str]] | None = None
        self._server: uvicorn.Server | None = None

    def expect(self, state: str) -> None:
        """The state the redirect must carry (known once the authorization URL is made)."""
        self._expected_state = state

    @property
    def redirect_uri(self) -> str:
        return f"http://{self.host}:{self.port}{CALLBACK_PATH}"

    async def _callback(self, request: Request) -> Response:
        params = dict(request.query_params)
        if self._result is not None and not self._result.done():
            self._result.set_result(params)
        if params.get("error"):
            return _page("Authorization refused", "You can close this tab; the terminal says more.")
        if not hmac.compare_digest(params.get("state", ""), self._expected_state):
            return _page(
                "Authorization not accepted", "The request did not match; nothing was stored."
            )
        return _page(
            "shelfware is authorized", "You can close this tab and go back to the terminal."
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopbackCallback]:
        self._result = asyncio.get_running_loop().create_future()
        app = Starlette(routes=[Route(CALLBACK_PATH, self._callback)])
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        task = asyncio.create_task(self._server.serve())
        try:
            while not self._server.started:
                if task.done():
                    task.result()  # raises the bind error
                    raise AuthorizationError(f"cannot listen on {self.host}:{self.port}")
                await asyncio.sleep(0.01)
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
            yield self
        finally:
            self._server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)

    async def wait(self, timeout: float = CALLBACK_TIMEOUT) -> dict[str, str]:
        assert self._result is not None, "use `async with callback.running()` first"
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            raise AuthorizationError(
                f"no redirect arrived within {timeout:.0f}s; nothing was stored"
            ) from None


def _page(title: str, text: str) -> HTMLResponse:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{text}</p>"
        "</body></html>"
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
