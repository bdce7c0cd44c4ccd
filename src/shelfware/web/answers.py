"""The answer page: where the "keep" / "release" links of a notification land.

No login: the signed, expiring, single-use link is the credential. A GET only shows what the
answer will do (mail scanners and link previews follow links); the button POSTs the answer.
A forged, expired, used or no longer pending link gets a page saying so, and nothing changes.

Wiring: ``routes`` (or the Starlette ``router``) serve ``/answer/{token}``; they read an
``AnswerContext`` from ``app.state.answers`` (``configure(app, ...)``), else open the store
from the settings on first use. ``app()`` is a stand-alone app for tests and small setups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, Router

from shelfware.kit.clock import Clock, SystemClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.reclamation.links import LinkRefused
from shelfware.reclamation.states import StateError
from shelfware.reclamation.workflow import answer_by_link, preview_link
from shelfware.settings import get_settings
from shelfware.store import open_store

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
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
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
    )


def submit(request: Request) -> HTMLResponse:
    ctx = _context(request)
    try:
        with ctx.db.transaction() as session:
            outcome = answer_by_link(session, ctx.keys, ctx.clock, request.path_params["token"])
    except LinkRefused as refused:
        return _refused(refused.kind, str(refused))
    except StateError:
        return _refused("closed", "This seat is no longer waiting for an answer.")
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
    application = Starlette(routes=list(routes))
    if db is not None and keys is not None:
        configure(application, db, keys, clock or SystemClock())
    return application
