"""What every command needs: settings, the store, a clock, and how errors are shown."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shelfware.connectors.base import ConnectorError
from shelfware.kit.clock import Clock, FrozenClock, SystemClock, utc
from shelfware.kit.crypto import KeyRingError
from shelfware.kit.csv_input import CsvInputError
from shelfware.kit.text import shown
from shelfware.licensing.service import LicensingError
from shelfware.profiles.oauth import AuthorizationError
from shelfware.profiles.service import ProfileError
from shelfware.ranges import MAX_DATE, MIN_DATE
from shelfware.reclamation.service import ReclaimError
from shelfware.settings import Settings, get_settings
from shelfware.store import DATABASE_ERRORS, Store, StoreNotReady, database_error, open_store
from shelfware.sync.service import SyncError


def _console(stderr: bool = False) -> Console:
    """Rich console; when output is not a terminal, wide enough that tables stay readable."""
    probe = Console(stderr=stderr)
    # no emoji codes: ":thumbs_up:" in a vendor's name stays text
    return Console(stderr=stderr, width=None if probe.is_terminal else 160, emoji=False)


console = _console()
err_console = _console(stderr=True)

USER_ERRORS: tuple[type[Exception], ...] = (
    AuthorizationError,
    CsvInputError,
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
            instant = utc(datetime.fromisoformat(frozen.replace("Z", "+00:00")))
        except (ValueError, OverflowError):
            fail(f"SHELFWARE_CLOCK={frozen!r} is not an ISO 8601 instant")
        if not MIN_DATE <= instant.date() <= MAX_DATE:
            fail(f"SHELFWARE_CLOCK={frozen!r} is outside {MIN_DATE}..{MAX_DATE}")
        return FrozenClock(instant)
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


def one_line(text: str) -> str:
    """``text`` on one line, control characters shown as escapes (never echoed raw)."""
    flat = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return shown(flat)


def _say(message: str) -> None:
    err_console.print(
        f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True
    )


def report_error(exc: BaseException) -> int:
    if isinstance(exc, ValidationError):
        _say(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
            )
        )
    else:
        _say(str(exc) or type(exc).__name__)
    return 1


log = logging.getLogger("shelfware.cli")


def run(app: object, args: Sequence[str] | None = None) -> int:
    """Run the Typer app and return the exit code. Every failure ends in one line on stderr:
    usage errors exit 2, refused operations 1, and an unexpected error (a bug) 70, with the
    traceback logged at DEBUG (``SHELFWARE_LOG_LEVEL=DEBUG``)."""
    guarded: tuple[type[Exception], ...] = (CliError, *USER_ERRORS)
    try:
        rv = app(args=args, prog_name="shelfware", standalone_mode=False)  # type: ignore[operator]
    except typer.Abort:
        _say("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: bad option, value out of range...
        code = int(getattr(exc, "exit_code", 2))
        if type(exc).__name__ == "NoArgsIsHelpError":
            return code  # the help was printed
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        _say(f"{where}{exc.format_message()} (see --help)")
        return code
    except guarded as exc:
        return report_error(exc)
    except DATABASE_ERRORS as exc:
        _say(f"database: {database_error(exc)}")
        return 1
    except OSError as exc:
        _say(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
        return 1
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        _say(
            f"unexpected {type(exc).__name__}: {exc} (a bug: please report it; "
            "SHELFWARE_LOG_LEVEL=DEBUG shows the traceback)"
        )
        return 70
    return rv if isinstance(rv, int) else 0
