"""`shelfware serve`: one ASGI app with the REST API under /api/v1 and the web workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Scope

from shelfware.api import errors
from shelfware.api.app import create_api
from shelfware.api.scim import SCIM_PREFIX, create_scim_app
from shelfware.appstate import Workspace
from shelfware.jobs import service as jobs
from shelfware.kit.asgi import MIB, BodyLimit, EncodedSlashes
from shelfware.kit.clock import Clock, SystemClock
from shelfware.reports.kept import kept_reports
from shelfware.settings import Settings, get_settings
from shelfware.store import Store, open_store
from shelfware.web import answers, install_web
from shelfware.web.errors import body_refusal
from shelfware.web.pages.sso import sign_in_policy

API_PREFIX = "/api/v1"
WEB_BODY_LIMIT = 1 * MIB  # the workspace's forms (the API holds its own limits)
IMPORT_BODY_LIMIT = 11 * MIB  # an uploaded CSV of up to 10 MiB, and the form around it
IMPORT_PATHS = frozenset({"/entitlements/import"})


def web_body_limit(scope: Scope) -> int | None:
    path: str = scope["path"]
    for prefix in (API_PREFIX, SCIM_PREFIX):  # each holds its own limits
        if path == prefix or path.startswith(prefix + "/"):
            return None
    return IMPORT_BODY_LIMIT if path in IMPORT_PATHS else WEB_BODY_LIMIT


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The whole app. Without ``store`` it opens the configured one (and closes it on
    shutdown); tests hand in their own store and a frozen clock."""
    owned = store is None
    settings = settings or get_settings()
    workspace = Workspace(
        store=store if store is not None else open_store(settings),
        clock=clock or SystemClock(),
    )
    # Syncs asked for by the API and the pages, and the schedule: embedded worker threads
    # (started with the app, the tick with them) or messages to `shelfware worker`s.
    backend = jobs.backend_for(workspace.store, workspace.clock, settings)
    workspace.extras["jobs"] = backend
    kept_reports(workspace, wait=settings.report_wait_seconds)  # the API's and the pages'

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        embedded = settings.jobs == "embedded"
        backend.start(tick_seconds=settings.jobs_tick_seconds if embedded else None)
        try:
            yield
        finally:
            backend.stop()
            if owned:
                workspace.store.db.dispose()

    app = FastAPI(
        title="shelfware",
        lifespan=lifespan,
        openapi_url=None,  # the API documents itself at /api/v1/openapi.json
        docs_url=None,
        redoc_url=None,
    )
    app.state.workspace = workspace
    app.mount(API_PREFIX, create_api(workspace, settings))
    # SCIM provisioning of shelfware's users (/scim/v2): SCIM provisioning tokens only
    app.mount(SCIM_PREFIX, create_scim_app(workspace))
    errors.install_outer(app, API_PREFIX)

    # --- web workspace -----------------------------------------------------------------------
    # (added before install_web: its security headers wrap this refusal too)
    app.add_middleware(BodyLimit, limit_for=web_body_limit, refuse=body_refusal)
    # pages, sign-in, /oauth/callback, /static, security headers
    install_web(
        app,
        workspace,
        trusted_proxies=settings.trusted_proxy_networks,
        sign_in=sign_in_policy(settings),
    )
    answers.configure(app, workspace.store.db, workspace.store.keys, workspace.clock)
    app.router.routes.extend(answers.routes)  # reclamation keep / release answers (no sign-in)
    # outermost: a name holding "/" stays one path segment (%2F) for every route below
    app.add_middleware(EncodedSlashes)
    return app
