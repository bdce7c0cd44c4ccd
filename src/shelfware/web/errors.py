"""Errors a person can act on, shown as one line (never a traceback, never a secret)."""

from __future__ import annotations

from markupsafe import escape
from pydantic import ValidationError
from starlette.types import Scope

from shelfware.connectors.base import ConnectorError
from shelfware.kit.crypto import KeyRingError
from shelfware.licensing.service import LicensingError
from shelfware.profiles.oauth import AuthorizationError
from shelfware.profiles.service import ProfileError
from shelfware.reclamation.service import ReclaimError
from shelfware.reclamation.states import StateError
from shelfware.sync.service import SyncError

USER_ERRORS: tuple[type[Exception], ...] = (
    AuthorizationError,
    ConnectorError,
    KeyRingError,
    LicensingError,
    ProfileError,
    ReclaimError,
    StateError,
    SyncError,
    ValidationError,
    ValueError,
    LookupError,
)


def one_line(exc: BaseException) -> str:
    """What was wrong, in one line; for input errors, the field and the reason."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "input"
        return f"{where}: {first.get('msg', 'invalid')}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def body_refusal(
    _: Scope, status: int, message: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The page for a request the body limit refused (the session is not read for it)."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<link rel="stylesheet" href="/static/app.css"><title>Not accepted</title></head>'
        f'<body><main><h1>Not accepted</h1><p class="error">{escape(message)}.</p>'
        '<p><a href="/">Back to the workspace</a></p></main></body></html>'
    )
    return status, [(b"content-type", b"text/html; charset=utf-8")], page.encode()
