"""Sign-in with a local account, and sign-out (sessions live in the database)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shelfware.accounts import sessions
from shelfware.web.context import session_of, web_context
from shelfware.web.routing import local_path, page
from shelfware.web.security import COOKIE, WebSession, request_address
from shelfware.web.templating import redirect, render, set_session_cookie

MAX_FIELD = 200


def client_address(request: Request) -> str:
    return request_address(request, web_context(request).trusted_proxies)


def _page(request: Request, **context: object) -> dict[str, object]:
    """What the sign-in page shows: "Sign in with <name>" for each single sign-on set up
    (OpenID Connect, SAML); the password form, or (local passwords off) only a small
    break-glass form."""
    policy = web_context(request).sign_in
    return {
        "sso_name": policy.name if policy.oidc is not None else None,
        "saml_name": policy.saml_name if policy.saml is not None else None,
        "local_login": policy.local_login,
        **context,
    }


@page("GET", "/sign-in", None)
async def sign_in_form(request: Request, next: str = "/") -> Response:
    if request.state.viewer is not None:
        return redirect(request, local_path(next))
    return render(request, "sign_in.html", _page(request, next=local_path(next)))


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
                local_login=ctx.sign_in.local_login,
                break_glass=ctx.sign_in.break_glass,
            )

    outcome = await run_in_threadpool(attempt)  # argon2 and the database: off the event loop
    if outcome.local_off:
        return render(
            request,
            "sign_in.html",
            _page(
                request,
                next=target,
                error="Local passwords are off: sign in through single sign-on.",
                username=username,
            ),
            status=403,
        )
    if outcome.retry_after:
        return render(
            request,
            "sign_in.html",
            _page(
                request,
                next=target,
                error=f"Too many failed sign-ins: try again in {outcome.retry_after} s.",
            ),
            status=429,
        )
    if outcome.session is None:
        return render(
            request,
            "sign_in.html",
            _page(request, next=target, error="Wrong user name or password.", username=username),
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
    id_token: str | None = None
    if session is not None and session.token is not None:
        with ctx.store.db.transaction() as db:
            id_token = sessions.id_token_of(db, session.token)
            sessions.sign_out(db, ctx.clock, session.token, address=client_address(request))
    provider = ctx.sign_in.oidc
    elsewhere = None
    if provider is not None and id_token:  # RP-initiated logout: the provider's session too
        base = (ctx.sign_in.public_url or str(request.base_url)).rstrip("/")
        elsewhere = await provider.end_session_url(
            id_token_hint=id_token, post_logout_redirect_uri=base + "/sign-in"
        )
    response = (
        RedirectResponse(elsewhere, status_code=303)
        if elsewhere
        else redirect(request, "/sign-in", "Signed out.")
    )
    response.delete_cookie(COOKIE, path="/")
    return response
