"""Errors a person can act on, shown as one line (never a traceback, never a secret)."""

from __future__ import annotations

import re

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
    """What was wrong, in one line; for input errors, the field and the reason; said as the
    workspace says it (:func:`in_web_words`)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        # a field as a person reads it ("unit cost", not unit_cost)
        where = ".".join(str(p).replace("_", " ") for p in first.get("loc", ())) or "input"
        said = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return in_web_words(f"{where}: {said}")
    text = str(exc).strip().splitlines()
    return in_web_words(text[0]) if text else type(exc).__name__


# The domain's messages name what to do next the command line's way (they serve every face);
# in a page they name the page's own controls. Most specific first.
WEB_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (r"`shelfware profile set \S+ --reclaim`", "the Reclaim switch on the profile's page"),
        (r"\brun (?=`shelfware profile (?:validate|authorize|publish))", "press "),
        (r"`shelfware profile validate[^`]*`", "Validate on the profile's page"),
        (r"`shelfware profile authorize[^`]*`", "Authorize on the profile's page"),
        (r"`shelfware profile create`", "New profile on the Apps & profiles page"),
        (r"`shelfware profile publish[^`]*`", "Publish on the profile's page"),
        (r"`shelfware profile attach[^`]*`", "the report upload on the profile's page"),
        (r"`candidates advance`", "workflow step (Run the workflow step now, on Candidates)"),
        (
            r"force it with a reason \(admins only: --force --reason TEXT\)",
            "ask an administrator to exceed it with a reason",
        ),
        (r"--force needs --reason TEXT", "exceeding the cap needs a reason"),
        (r"\(--reason TEXT\)", ""),
        (r"name candidate ids,? or use --all-ready", "tick candidates, or every ready one"),
        (
            r"create it with --auth oauth --client-id ID --client-secret-env VAR",
            "give the OAuth client id and secret on the profile's page",
        ),
        (r"\(--client-id\)", "(the OAuth client id field)"),
        (r"--secret-env(?: VAR)?", "the Secret field"),
        (r"--option ([\w.:,|=-]+)", r"the option \1 (Options, on the profile's Change page)"),
        (r"\(--to-model\)", "(choose the edition to move to)"),
        (r"\(--window-days D\)", "(the window, in days)"),
        (
            r"--max-active-days N and/or --max-events N",
            "fewer than N active days and/or fewer than N events",
        ),
        (r"add kind downgrade", "they are the downgrade rule's"),
        (r"leave --url out", "leave the URL empty"),
        (r"needs --url", "needs a URL"),
    )
)
_FLAG = re.compile(r"--([a-z][a-z-]*)(?: [A-Z]+)?")


def in_web_words(text: str) -> str:
    """``text`` with command-line advice put in the workspace's terms: no flag, no backtick."""
    for pattern, words in WEB_WORDS:
        text = pattern.sub(words, text)
    text = _FLAG.sub(lambda m: "“" + m.group(1).replace("-", " ") + "”", text)
    return text.replace("`", "").replace("  ", " ")


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
