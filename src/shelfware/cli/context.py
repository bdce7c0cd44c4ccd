"""What every command needs: settings, the store, a clock, and how errors are shown."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shelfware.connectors.base import ConnectorError
from shelfware.kit.clock import Clock, FrozenClock, SystemClock, utc
from shelfware.kit.crypto import KeyRingError
from shelfware.licensing.service import LicensingError
from shelfware.profiles.service import ProfileError
from shelfware.reclamation.service import ReclaimError
from shelfware.settings import Settings, get_settings
from shelfware.store import Store, StoreNotReady, open_store
from shelfware.sync.service import SyncError


def _console(stderr: bool = False) -> Console:
    """Rich console; when output is not a terminal, wide enough that tables stay readable."""
    probe = Console(stderr=stderr)
    return Console(stderr=stderr, width=None if probe.is_terminal else 160)


console = _console()
err_console = _console(stderr=True)

USER_ERRORS: tuple[type[Exception], ...] = (
    ConnectorError,
    KeyRingError,
    LicensingError,
    ProfileError,
    ReclaimError,
    StoreNotReady,
    SyncError,
    ValueError,
    LookupError,
)


class CliError(Exception):
    """An error for the person at the terminal; printed without a traceback."""


def fail(message: str) -> NoReturn:
    raise CliError(message) from None


def clock() -> Clock:
    """The wall clock, or the instant in ``SHELFWARE_CLOCK`` (reproducible demos and tests)."""
    frozen = os.environ.get("SHELFWARE_CLOCK")
    if frozen:
        try:
            return FrozenClock(utc(datetime.fromisoformat(frozen.replace("Z", "+00:00"))))
        except ValueError:
            fail(f"SHELFWARE_CLOCK={frozen!r} is not an ISO 8601 instant")
    return SystemClock()


def settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        fail(f"bad configuration: {exc}")


@contextmanager
def store() -> Iterator[Store]:
    opened = open_store(settings())
    try:
        yield opened
    finally:
        opened.db.dispose()


def report_error(exc: BaseException) -> int:
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        err_console.print(f"[bold red]error:[/] {escape(problems)}", highlight=False)
    else:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    return 1


def run_guarded(app: object) -> None:
    """Run the Typer app; user errors print one line on stderr and exit 1."""
    guarded: tuple[type[Exception], ...] = (CliError, *USER_ERRORS)
    try:
        app()  # type: ignore[operator]
    except guarded as exc:
        sys.exit(report_error(exc))
