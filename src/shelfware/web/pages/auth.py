"""Sign-in with a local account, and sign-out (sessions live in the database)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts import sessions
from shelfware.web.context import session_of, web_context
from shelfware.web.routing import local_path, page
from shelfware.web.security import COOKIE, WebSession, request_address
from shelfware.web.templating import redirect, render, set_session_cookie

MAX_FIELD = 200


def client_address(request: Request) -> str:
    return request_address(request, web_context(request).trusted_proxies)


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
    address, agent = client_address(request), request.headers.get("user-agent")

    def attempt() -> sessions.SignInOutcome:
        with ctx.store.db.transaction() as db:  # committed whatever the outcome: failures count
            return sessions.sign_in(
                db,
                ctx.clock,
                username,
                password,
                address=address,
                user_agent=agent,
                limits=ctx.limits,
            )

    outcome = await run_in_threadpool(attempt)  # argon2 and the database: off the event loop
    if outcome.retry_after:
        return render(
            request,
            "sign_in.html",
            {
                "next": target,
                "error": f"Too many failed sign-ins: try again in {outcome.retry_after} s.",
            },
            status=429,
        )
    if outcome.session is None:
        return render(
            request,
            "sign_in.html",
            {"next": target, "error": "Wrong user name or password.", "username": username},
            status=401,
        )
    response = redirect(request, target)
    started = outcome.session
    # a new session with a new token and CSRF secret: no fixation
    cookie = WebSession(
        csrf=started.csrf,
        issued=int(started.created_at.timestamp()),
        user_id=started.user.id,
        token=started.token,
    )
    set_session_cookie(request, response, cookie)
    return response


@page("POST", "/sign-out", None)
async def sign_out(request: Request) -> Response:
    ctx = web_context(request)
    session = session_of(request)
    if session is not None and session.token is not None:
        with ctx.store.db.transaction() as db:
            sessions.sign_out(db, ctx.clock, session.token, address=client_address(request))
    response = redirect(request, "/sign-in", "Signed out.")
    response.delete_cookie(COOKIE, path="/")
    return response
