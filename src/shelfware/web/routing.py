"""The route table of the workspace: every page declares the permission it needs, and one
guard checks the session, the CSRF token of every unsafe request and the role matrix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from shelfware.accounts import sessions
from shelfware.accounts.roles import Permission
from shelfware.audit.service import acting_as
from shelfware.kit.asgi import segment
from shelfware.web.context import Viewer, web_context
from shelfware.web.security import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    WebSession,
    csrf_matches,
)

router = APIRouter(include_in_schema=False)
# A name in a path ({name}), as given: links quote it (``|urlseg``), kit.asgi.EncodedSlashes
# keeps its "/" and "%" escaped through routing, and this decodes them.
SegmentName = Annotated[str, BeforeValidator(lambda v: segment(v) if isinstance(v, str) else v)]


@dataclass(frozen=True)
class WebRoute:
    method: str
    path: str
    permission: Permission | None  # None: open to visitors (sign-in, static pages)
    csrf: bool = True  # False: a POST another site makes by design (the SAML ACS)


ROUTES: list[WebRoute] = []


class Refused(Exception):
    """A request the workspace turns down, with the status and one line saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def _csrf_token(request: Request) -> str | None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given


def load_session(request: Request) -> tuple[WebSession | None, Viewer | None]:
    """The request's session and who is signed in: a signed-in cookie counts only while its
    row in the database is open (a sign-out anywhere ends it everywhere)."""
    ctx = web_context(request)
    cookie = ctx.sealer.open(request.cookies.get(COOKIE))
    if cookie is None or cookie.token is None:
        return cookie, None
    with ctx.store.db.transaction() as db:
        active = sessions.resume(db, ctx.clock, cookie.token)
    if active is None:
        return None, None  # ended, expired or unknown: a visitor again
    user = active.user
    session = WebSession(
        csrf=active.csrf, issued=cookie.issued, user_id=user.id, token=active.token
    )
    return session, Viewer(user_id=user.id, username=user.username, role=str(user.role))


def guard(permission: Permission | None, csrf: bool = True) -> Callable[[Request], Any]:
    async def check(request: Request) -> AsyncIterator[None]:
        ctx = web_context(request)
        # a database read (and, once a minute, the session's last-seen write): off the loop
        session, viewer = await run_in_threadpool(load_session, request)
        request.state.web_session = session
        if (
            csrf
            and request.method not in SAFE_METHODS
            and not csrf_matches(session, await _csrf_token(request))
        ):
            raise Refused(403, "The form's CSRF token is missing or wrong: reload the page.")
        request.state.viewer = viewer
        if permission is not None:
            if viewer is None:
                query = request.url.query
                raise SignInNeeded(_raw_path(request) + (f"?{query}" if query else ""))
            if not viewer.can(permission):
                raise Refused(403, f"Your role ({viewer.role}) does not allow this.")
        # audit events recorded by this request (and the syncs it starts) name the person
        with acting_as(f"web:{viewer.username}" if viewer else "web:anonymous"):
            yield
        if request.method not in SAFE_METHODS and viewer is not None:
            ctx.changed()

    return check


def page(
    method: str, path: str, permission: Permission | None, *, csrf: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a page handler with the permission it needs. ``csrf=False``: a POST that
    comes from another site by design (the SAML ACS), which checks its own binding."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append(WebRoute(method, path, permission, csrf))
        router.add_api_route(
            path,
            handler,
            methods=[method],
            response_class=HTMLResponse,
            dependencies=[Depends(guard(permission, csrf))],
        )
        return handler

    return register


def _raw_path(request: Request) -> str:
    """The path as the browser sent it: a name's escapes (%2F, %3F, %23) kept."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) and raw else request.url.path


def sign_in_path(next_path: str) -> str:
    return "/sign-in?next=" + quote(next_path, safe="")


def local_path(target: str | None, default: str = "/") -> str:
    """Only a path on this site (never ``//host`` or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
