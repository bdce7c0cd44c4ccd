"""Cookies, CSRF, the client's address and security headers of the web workspace.

A session lives in the database (``accounts.sessions``); its cookie carries the session's
random token, sealed: Fernet (AES-CBC + HMAC-SHA256, timestamped) under a key derived from the
store's key ring for this one purpose (HKDF, label :data:`SESSION_PURPOSE`), and refused
``SESSION_SECONDS`` after sign-in whatever the browser does. Every request checks the row, so
a sign-out or a password change ends the session in every process and after a restart.
Visitors who have not signed in get a sealed cookie with a CSRF token only (no row), so the
sign-in form has one too. Flash notices are sealed under another derived key
(:data:`FLASH_PURPOSE`): a cookie sealed for one purpose never opens as another (a 4xx, never
a 500).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelfware.kit.crypto import KeyRing
from shelfware.kit.proxies import Network, client_address

COOKIE = "shelfware_session"
FLASH_COOKIE = "shelfware_flash"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 8 * 3600
FLASH_SECONDS = 120
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_PURPOSE = "shelfware web session cookie"
FLASH_PURPOSE = "shelfware web flash cookie"
SSO_PURPOSE = "shelfware web single sign-on attempt cookie"
SSO_COOKIE = "shelfware_sso"
SSO_SECONDS = 600
MAX_COOKIE = 4096

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


@dataclass(frozen=True)
class WebSession:
    """What a request's cookie says: a signed-in session's token (checked against its row on
    every request) or a visitor's CSRF token."""

    csrf: str
    issued: int
    user_id: int | None = None
    token: str | None = None  # the database session's token; None for a visitor


class CookieSealer:
    """Seals text for one purpose under keys derived from the key ring; ``open`` answers None
    for anything absent, forged, expired or sealed for another purpose."""

    def __init__(self, keys: KeyRing, purpose: str, now: Callable[[], float] = time.time) -> None:
        self._fernets = [Fernet(key) for key in keys.derived(purpose).keys]
        self._now = now

    def now(self) -> int:
        return int(self._now())

    def seal(self, text: str, at: int | None = None) -> str:
        when = self.now() if at is None else at
        return self._fernets[0].encrypt_at_time(text.encode(), when).decode()

    def open(self, token: str | None, ttl: int) -> str | None:
        if not token or len(token) > MAX_COOKIE:
            return None
        for fernet in self._fernets:
            try:
                return fernet.decrypt_at_time(token.encode(), ttl, self.now()).decode()
            except (InvalidToken, UnicodeDecodeError):
                continue
        return None


class SessionSealer:
    """Seals sessions into cookie values and opens them again (``None``: absent, forged,
    expired, sealed for another purpose or not a session)."""

    def __init__(self, keys: KeyRing, now: Callable[[], float] = time.time) -> None:
        self._sealer = CookieSealer(keys, SESSION_PURPOSE, now)

    def now(self) -> int:
        return self._sealer.now()

    def new(self, user_id: int | None = None, token: str | None = None) -> WebSession:
        return WebSession(
            csrf=secrets.token_urlsafe(32), issued=self.now(), user_id=user_id, token=token
        )

    def seal(self, session: WebSession) -> str:
        payload = {"c": session.csrf, "i": session.issued}
        if session.token is not None:  # the CSRF secret of a signed-in session is its row's
            payload = {"t": session.token, "i": session.issued}
        return self._sealer.seal(json.dumps(payload), session.issued)

    def open(self, cookie: str | None) -> WebSession | None:
        raw = self._sealer.open(cookie, SESSION_SECONDS)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            issued = int(data["i"])
            token, csrf = data.get("t"), data.get("c")
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        if isinstance(token, str) and token:
            return WebSession(csrf="", issued=issued, token=token)
        if isinstance(csrf, str) and csrf:
            return WebSession(csrf=csrf, issued=issued)
        return None


def csrf_matches(session: WebSession | None, given: str | None) -> bool:
    if session is None or not session.csrf or not given:
        return False
    return hmac.compare_digest(session.csrf.encode(), str(given).encode())


def request_address(request: Request, trusted: Sequence[Network]) -> str:
    """The client's address (``X-Forwarded-For`` only from a trusted proxy)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


class SecurityHeaders:
    """Adds the security headers to every response (the REST API's JSON too) that does not
    set its own (the answer page sets a stricter referrer policy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in HEADERS if name not in present
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
