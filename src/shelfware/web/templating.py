"""Rendering pages: Jinja2 (autoescaped), the session cookie and flash messages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from shelfware.accounts.roles import Permission
from shelfware.kit.asgi import quote_segment
from shelfware.web import charts
from shelfware.web.context import web_context
from shelfware.web.errors import in_web_words
from shelfware.web.security import (
    COOKIE,
    CSRF_FIELD,
    FLASH_COOKIE,
    FLASH_SECONDS,
    SESSION_SECONDS,
    WebSession,
)

NAV = [
    ("/", "Overview", Permission.RECONCILIATION_READ),
    ("/reports", "Reports", Permission.REPORTS_READ),
    ("/profiles", "Apps & profiles", Permission.PROFILES_READ),
    ("/subscriptions", "Subscriptions", Permission.SUBSCRIPTIONS_READ),
    ("/candidates", "Candidates", Permission.CANDIDATES_READ),
    ("/rules", "Rules", Permission.RULES_READ),
    ("/entitlements", "Entitlements", Permission.ENTITLEMENTS_READ),
    ("/people", "People", Permission.PEOPLE_READ),
    ("/reviews", "Reviews", Permission.REVIEWS_DECIDE),
    ("/runs", "Runs", Permission.RUNS_READ),
    ("/audit", "Audit", Permission.AUDIT_READ),
]


DEFAULT_LOCALE = Locale("en")


@lru_cache(maxsize=256)
def reader_locale(accept_language: str | None) -> Locale:
    """The reader's locale from their browser's ``Accept-Language`` (the first one Babel
    knows, by weight), else English."""
    wanted: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*":
            wanted.append((-weight, n, tag))
    for _, _, tag in sorted(wanted):
        try:
            return Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue
    return DEFAULT_LOCALE


def format_money(value: float | Decimal | None, currency: str | None, locale: Locale) -> str:
    """An amount in the reader's notation, with its currency (a bare number without one)."""
    if value is None:
        return "—"
    if not currency:
        return format_decimal(value, format="#,##0.00", locale=locale)
    return format_currency(value, currency, locale=locale)


@pass_context
def money(context: Any, value: float | None, currency: str = "") -> str:
    return format_money(value, currency, context.get("locale") or DEFAULT_LOCALE)


@pass_context
def count(context: Any, value: int | None) -> str:
    """A whole number in the reader's notation (1,234 / 1.234 / 1 234)."""
    if value is None:
        return "—"
    return format_decimal(value, locale=context.get("locale") or DEFAULT_LOCALE)


def when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(files("shelfware.web") / "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["count"] = count
    env.filters["when"] = when
    # a message the domain wrote for every face (a run's error, a check's detail, a
    # candidate's reason): said with the workspace's controls, no flag, no backtick
    env.filters["web_words"] = in_web_words
    env.filters["urlseg"] = quote_segment  # a name in a link: /profiles/{{ p.name | urlseg }}
    env.globals["charts"] = charts
    return env


ENV = _environment()


def set_session_cookie(request: Request, response: Response, session: WebSession) -> None:
    ctx = web_context(request)
    response.set_cookie(
        COOKIE,
        ctx.sealer.seal(session),
        max_age=SESSION_SECONDS,
        path="/",
        secure=ctx.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def flash(request: Request, response: Response, message: str) -> None:
    """A one-line notice shown on the next page (sealed: nobody can plant one via a link)."""
    ctx = web_context(request)
    response.set_cookie(
        FLASH_COOKIE,
        ctx.flashes.seal(in_web_words(message)[:500]),
        max_age=FLASH_SECONDS,
        path="/",
        secure=ctx.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def redirect(request: Request, to: str, message: str | None = None) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    if message:
        flash(request, response, message)
    return response


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    ctx = web_context(request)
    session: WebSession | None = getattr(request.state, "web_session", None)
    fresh = session is None
    if session is None:
        session = ctx.sealer.new()
    viewer = getattr(request.state, "viewer", None)
    notice = ctx.flashes.open(request.cookies.get(FLASH_COOKIE), FLASH_SECONDS)
    body = ENV.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf_token=session.csrf,
        csrf=lambda: Markup(
            f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(session.csrf)}">'
        ),
        nav=[(href, label) for href, label, perm in NAV if viewer and viewer.can(perm)],
        path=request.url.path,
        locale=reader_locale(request.headers.get("accept-language")),
        notice=notice,
        Permission=Permission,
        **(context or {}),
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["cache-control"] = "no-store"
    if fresh:
        set_session_cookie(request, response, session)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response
