"""The answer page: where the "keep" / "release" links of a notification land.

No login: the signed, expiring, single-use link is the credential. A GET only shows what the
answer will do (mail scanners and link previews follow links); the button POSTs the answer.
A forged, expired, used or no longer pending link gets a page saying so, and nothing changes.
The person may add a reason (optional, at most ``MAX_REASON`` characters, cleaned), which the
audit trail keeps with the answer. The page looks like the workspace (its stylesheets from
``/static``, no inline style: the CSP allows none) and never shows who approves.

Wiring: ``routes`` (or the Starlette ``router``) serve ``/answer/{token}``; they read an
``AnswerContext`` from ``app.state.answers`` (``configure(app, ...)``), else open the store
from the settings on first use. ``app()`` is a stand-alone app for tests and small setups.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from shelfware.kit.clock import Clock, SystemClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.reclamation.links import LinkRefused
from shelfware.reclamation.states import StateError
from shelfware.reclamation.workflow import MAX_REASON, answer_by_link, preview_link
from shelfware.settings import get_settings
from shelfware.store import DATABASE_ERRORS, open_store

ANSWER_PATH = "/answer/{token}"
_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "answers"),
    autoescape=select_autoescape(["html"]),
)
# The token is in the URL: never leak it onward, never cache the page.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
MAX_FORM_BYTES = 16 * 1024  # the reason (500 characters, percent-encoded) and the button
_STATUS = {"forged": 400, "expired": 410, "used": 409, "closed": 409}


@dataclass
class AnswerContext:
    db: Database
    keys: KeyRing
    clock: Clock


def configure(app: Starlette, db: Database, keys: KeyRing, clock: Clock) -> None:
    app.state.answers = AnswerContext(db, keys, clock)


def _context(request: Request) -> AnswerContext:
    ctx = getattr(request.app.state, "answers", None)
    if ctx is None:
        store = open_store(get_settings())
        ctx = AnswerContext(store.db, store.keys, SystemClock())
        request.app.state.answers = ctx
    return ctx


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_PAGES.get_template(name).render(**values), status, headers=_HEADERS)


def _refused(kind: str, message: str) -> HTMLResponse:
    return _page("refused.html", _STATUS.get(kind, 400), kind=kind, message=message)


def show(request: Request) -> HTMLResponse:
    ctx = _context(request)
    try:
        with ctx.db.sessions() as session:
            preview = preview_link(session, ctx.keys, ctx.clock, request.path_params["token"])
    except LinkRefused as refused:
        return _refused(refused.kind, str(refused))
    deadline = f"{preview.deadline:%Y-%m-%d}" if preview.deadline else ""
    return _page(
        "confirm.html",
        action=preview.action,
        app=preview.app,
        username=preview.username,
        deadline=deadline,
        max_reason=MAX_REASON,
        move_to=preview.move_to,
    )


async def _reason(request: Request) -> str | None:
    """The form's optional reason; the body is read up to ``MAX_FORM_BYTES`` only."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ValueError("the form is too large")
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return None
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    reasons = fields.get("reason")
    return reasons[0] if reasons else None


async def submit(request: Request) -> HTMLResponse:
    ctx = _context(request)
    try:
        reason = await _reason(request)
    except ValueError:
        return _page(
            "refused.html",
            413,
            kind="too_large",
            message=f"The reason is too long: at most {MAX_REASON} characters. Nothing changed.",
        )
    return await run_in_threadpool(_record, ctx, request.path_params["token"], reason)


def _record(ctx: AnswerContext, token: str, reason: str | None) -> HTMLResponse:
    try:
        with ctx.db.transaction() as session:
            outcome = answer_by_link(session, ctx.keys, ctx.clock, token, reason)
    except LinkRefused as refused:
        return _refused(refused.kind, str(refused))
    except StateError:
        return _refused("closed", "This seat is no longer waiting for an answer.")
    except DATABASE_ERRORS:  # e.g. a concurrent answer won the race: rolled back
        return _page(
            "refused.html",
            503,
            kind="busy",
            message="Your answer could not be recorded just now; please open the link again.",
        )
    return _page("done.html", outcome=outcome)


routes = [
    Route(ANSWER_PATH, show, methods=["GET"]),
    Route(ANSWER_PATH, submit, methods=["POST"]),
]
router = Router(routes=routes)


def app(
    db: Database | None = None, keys: KeyRing | None = None, clock: Clock | None = None
) -> Starlette:
    """A stand-alone app serving only the answer page."""
    static = StaticFiles(directory=str(files("shelfware.web") / "static"))
    application = Starlette(routes=[*routes, Mount("/static", static, name="static")])
    if db is not None and keys is not None:
        configure(application, db, keys, clock or SystemClock())
    return application
