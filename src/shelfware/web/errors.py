"""Errors a person can act on, shown as one line (never a traceback, never a secret)."""

from __future__ import annotations

from pydantic import ValidationError

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
