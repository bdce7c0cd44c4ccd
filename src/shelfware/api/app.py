"""The API app, mounted by ``shelfware.serve`` at /api/v1 (its document: /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute

from shelfware.api import errors
from shelfware.api.auth import permission_of
from shelfware.api.routers import (
    accounts,
    audit,
    candidates,
    directory,
    jobs,
    licensing,
    profiles,
    reports,
    rules,
    subscriptions,
)
from shelfware.appstate import Workspace

ROUTERS = (
    accounts.router,
    profiles.router,
    jobs.router,
    subscriptions.router,
    rules.router,
    candidates.router,
    licensing.router,
    reports.router,
    directory.router,
    audit.router,
)


# Answers carry account data: never cached, never sniffed as another type, no referrer.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def guarded_routes(router: APIRouter) -> list[APIRoute]:
    """The router's endpoints; raises when one names no permission (``allowed(...)``)."""
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    for route in routes:
        if permission_of(route.dependant) is None:
            raise RuntimeError(f"API route {route.path} names no permission (allowed(...))")
    return routes


def create_api(workspace: Workspace) -> FastAPI:
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

    for router in ROUTERS:
        for route in guarded_routes(router):
            needed = permission_of(route.dependant)
            route.openapi_extra = {**(route.openapi_extra or {}), "x-permission": str(needed)}
        api.include_router(router, responses=errors.ERROR_RESPONSES)
    return api
