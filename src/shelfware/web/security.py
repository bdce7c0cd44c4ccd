"""Sessions, CSRF, sign-in rate limits and security headers of the web workspace.

A session is a sealed cookie: Fernet (AES-CBC + HMAC-SHA256, timestamped) under a key derived
from the store's key ring for this one purpose, so it can be neither read nor forged, and it
expires ``SESSION_SECONDS`` after sign-in whatever the browser does. It carries the user id,
when it was issued (a password change ends older sessions) and the session's CSRF token.
Visitors who have not signed in get one too, so the sign-in form has a CSRF token as well.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelfware.kit.crypto import KeyRing

COOKIE = "shelfware_session"
FLASH_COOKIE = "shelfware_flash"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 8 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
    csrf: str  # also names the session (a sign-out ends it: see ``EndedSessions``)
    issued: int
    user_id: int | None = None


class SessionSealer:
    """Seals sessions into cookie values and opens them again (``None``: absent, forged or
    expired)."""

    def __init__(self, keys: KeyRing, now: Callable[[], float] = time.time) -> None:
        derived = [
            HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"shelfware web session"
            ).derive(base64.urlsafe_b64decode(key))
            for key in keys.keys
        ]
        self._fernets = [Fernet(base64.urlsafe_b64encode(k)) for k in derived]
        self._now = now

    def now(self) -> int:
        return int(self._now())

    def new(self, user_id: int | None = None) -> WebSession:
        return WebSession(csrf=secrets.token_urlsafe(32), issued=self.now(), user_id=user_id)

    def seal(self, session: WebSession) -> str:
        payload = json.dumps({"u": session.user_id, "c": session.csrf, "i": session.issued})
        return self._fernets[0].encrypt_at_time(payload.encode(), session.issued).decode()

    def open(self, cookie: str | None) -> WebSession | None:
        if not cookie or len(cookie) > 4096:
            return None
        for fernet in self._fernets:
            try:
                raw = fernet.decrypt_at_time(cookie.encode(), SESSION_SECONDS, self.now())
            except InvalidToken:
                continue
            data = json.loads(raw)
            return WebSession(csrf=str(data["c"]), issued=int(data["i"]), user_id=data["u"])
        return None

    def seal_text(self, text: str) -> str:
        return self._fernets[0].encrypt_at_time(text.encode(), self.now()).decode()

    def open_text(self, token: str | None, ttl: int = 120) -> str | None:
        if not token or len(token) > 4096:
            return None
        try:
            return self._fernets[0].decrypt_at_time(token.encode(), ttl, self.now()).decode()
        except InvalidToken:
            return None


def csrf_matches(session: WebSession | None, given: str | None) -> bool:
    return bool(session and given) and hmac.compare_digest(session.csrf, str(given))  # type: ignore[union-attr]


@dataclass
class SignInLimiter:
    """At most ``attempts`` failed sign-ins per user name and address in ``window`` seconds,
    and ``attempts * 4`` per address (guessing many names from one place)."""

    attempts: int = 5
    window: float = 900.0
    now: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        cutoff = self.now() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        with self._lock:
            pairs = [
                ((username.lower(), address), self.attempts),
                (("", address), self.attempts * 4),
            ]
            waits = [
                int(times[0] + self.window - self.now()) + 1
                for key, limit in pairs
                if len(times := self._recent(key)) >= limit
            ]
            return max(waits, default=0)

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            at = self.now()
            self._recent((username.lower(), address)).append(at)
            self._recent(("", address)).append(at)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), address), None)


@dataclass
class EndedSessions:
    """Sessions signed out of, refused until they would have expired anyway: a copy of the
    cookie taken before the sign-out does not outlive it (in this process)."""

    _until: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def end(self, session: WebSession) -> None:
        with self._lock:
            self._until[session.csrf] = session.issued + SESSION_SECONDS

    def ended(self, session: WebSession, now: int) -> bool:
        with self._lock:
            for key in [k for k, until in self._until.items() if until < now]:
                del self._until[key]
            return session.csrf in self._until


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
