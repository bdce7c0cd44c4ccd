"""The API app, mounted by ``shelfware.serve`` at /api/v1 (its document: /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute

from shelfware.api import errors, limits
from shelfware.api.auth import permission_of
from shelfware.api.limits import SECURITY_HEADERS
from shelfware.api.routers import (
    accounts,
    audit,
    candidates,
    directory,
    jobs,
    licensing,
    profiles,
    reports,
    reviews,
    rules,
    subscriptions,
)
from shelfware.appstate import Workspace
from shelfware.kit.asgi import BodyLimit, ConcurrencyLimit
from shelfware.settings import Settings, get_settings

ROUTERS = (
    accounts.router,
    profiles.router,
    jobs.router,
    subscriptions.router,
    rules.router,
    candidates.router,
    licensing.router,
    reports.router,
    reviews.router,
    directory.router,
    directory.people_router,
    audit.router,
)


def guarded_routes(router: APIRouter) -> list[APIRoute]:
    """The router's endpoints; raises when one names no permission (``allowed(...)``)."""
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    for route in routes:
        if permission_of(route.dependant) is None:
            raise RuntimeError(f"API route {route.path} names no permission (allowed(...))")
    return routes


def create_api(workspace: Workspace, settings: Settings | None = None) -> FastAPI:
    """The API over ``workspace``; ``settings``: its concurrency limit (default: the
    environment's)."""
    settings = settings or get_settings()
    api = FastAPI(
        title="shelfware API",
        version="1",
        description="Integration profiles, subscriptions, people and the directory, rules, "
        "candidates and the reclamation workflow, entitlements, reconciliation and reports. "
        "Authenticate with `Authorization: Bearer TOKEN` "
        "(`shelfware tokens create NAME --role ROLE`).",
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN with inline scripts: not served
        redoc_url=None,
    )
    api.state.workspace = workspace
    errors.install(api)

    @api.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    # outermost last: the token is checked from the headers before any of the body is read,
    # then the body is held to its limit (413) as it streams
    api.add_middleware(BodyLimit, limit_for=limits.body_limit, refuse=limits.refusal)
    api.add_middleware(limits.TokenFirst, workspace=workspace)
    # outermost: past this many requests at once, a 503 + Retry-After after a short wait
    api.add_middleware(
        ConcurrencyLimit,
        limit=settings.api_max_concurrency,
        wait=settings.api_queue_seconds,
        refuse=limits.refusal,
    )

    for router in ROUTERS:
        for route in guarded_routes(router):
            needed = permission_of(route.dependant)
            route.openapi_extra = {**(route.openapi_extra or {}), "x-permission": str(needed)}
        api.include_router(router, responses=errors.ERROR_RESPONSES)
    return api
