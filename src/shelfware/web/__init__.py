"""The web workspace: server-rendered pages (Jinja2 + htmx), every asset served locally.

``install_web(app, workspace)`` mounts it on the FastAPI app of ``shelfware serve``: the
page routes, ``/static``, the security headers and the handlers that turn refusals into pages.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from shelfware.appstate import Workspace
from shelfware.kit.proxies import Network
from shelfware.store import BUSY_ERRORS, RETRY_AFTER_SECONDS, VALUE_ERRORS, database_error
from shelfware.web.context import SignInPolicy, WebContext
from shelfware.web.security import (
    FLASH_PURPOSE,
    SSO_PURPOSE,
    CookieSealer,
    SecurityHeaders,
    SessionSealer,
)


def install_web(
    app: FastAPI,
    workspace: Workspace,
    *,
    secure_cookies: bool = True,
    trusted_proxies: tuple[Network, ...] = (),
    sign_in: SignInPolicy | None = None,
) -> None:
    from shelfware.web.pages.dashboard import recount
    from shelfware.web.routes import router
    from shelfware.web.routing import Refused, SignInNeeded, sign_in_path
    from shelfware.web.templating import render

    def now() -> float:
        return workspace.clock.now().timestamp()

    app.state.web = WebContext(
        workspace=workspace,
        store=workspace.store,
        clock=workspace.clock,
        sealer=SessionSealer(workspace.store.keys, now),
        flashes=CookieSealer(workspace.store.keys, FLASH_PURPOSE, now),
        trusted_proxies=trusted_proxies,
        secure_cookies=secure_cookies,
        sign_in=sign_in or SignInPolicy(),
        sso_cookies=CookieSealer(workspace.store.keys, SSO_PURPOSE, now),
        on_change=recount,
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(files("shelfware.web") / "static")), "static")
    app.add_middleware(SecurityHeaders)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return render(request, "error.html", {"message": exc.message}, status=exc.status)

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(sign_in_path(exc.next_path), status_code=303)
        return render(request, "error.html", {"message": "Sign in first."}, status=401)

    async def value_refused(request: Request, exc: Exception) -> Response:
        message = f"A value the database cannot take: {database_error(exc)}."
        return render(request, "error.html", {"message": message}, status=400)

    async def busy(request: Request, exc: Exception) -> Response:
        message = "The server is busy: try again in a moment."
        answer = render(request, "error.html", {"message": message}, status=503)
        answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer

    app.add_exception_handler(Refused, refused)
    for error in BUSY_ERRORS:  # no database connection free in time: shed, never a 500
        app.add_exception_handler(error, busy)
    for error in VALUE_ERRORS:  # NUL on PostgreSQL...: the input's fault, never a 500
        app.add_exception_handler(error, value_refused)
    app.add_exception_handler(SignInNeeded, sign_in_needed)
