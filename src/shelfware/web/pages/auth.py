"""Sign-in with a local account, and sign-out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts import service as accounts
from shelfware.web.context import session_of, web_context
from shelfware.web.routing import local_path, page
from shelfware.web.security import COOKIE
from shelfware.web.templating import redirect, render, set_session_cookie

MAX_FIELD = 200


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@page("GET", "/sign-in", None)
async def sign_in_form(request: Request, next: str = "/") -> Response:
    if request.state.viewer is not None:
        return redirect(request, local_path(next))
    return render(request, "sign_in.html", {"next": local_path(next)})


@page("POST", "/sign-in", None)
async def sign_in(request: Request) -> Response:
    ctx = web_context(request)
    form = await request.form()
    username = str(form.get("username", ""))[:MAX_FIELD].strip()
    password = str(form.get("password", ""))[:1024]
    target = local_path(str(form.get("next", "/")))
    address = _address(request)
    wait = ctx.limiter.retry_after(username, address)
    if wait:
        return render(
            request,
            "sign_in.html",
            {"next": target, "error": f"Too many failed sign-ins: try again in {wait} s."},
            status=429,
        )
    user = None
    if username and password:
        with ctx.store.db.transaction() as session:
            user = accounts.authenticate(session, ctx.clock, username, password)
    if user is None:
        ctx.limiter.failed(username, address)
        return render(
            request,
            "sign_in.html",
            {"next": target, "error": "Wrong user name or password.", "username": username},
            status=401,
        )
    ctx.limiter.succeeded(username, address)
    response = redirect(request, target)
    set_session_cookie(request, response, ctx.sealer.new(user.id))  # a new session: no fixation
    return response


@page("POST", "/sign-out", None)
async def sign_out(request: Request) -> Response:
    session = session_of(request)
    if session is not None:
        web_context(request).ended.end(session)
    response = redirect(request, "/sign-in", "Signed out.")
    response.delete_cookie(COOKIE, path="/")
    return response
