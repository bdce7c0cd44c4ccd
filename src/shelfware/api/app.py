"""The API app, mounted by ``shelfware.serve`` at /api/v1 (its document: /api/v1/openapi.json)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from shelfware.api import errors
from shelfware.api.auth import permission_of
from shelfware.api.routers import me
from shelfware.appstate import Workspace

ROUTERS = (me.router,)


def create_api(workspace: Workspace) -> FastAPI:
    api = FastAPI(
        title="shelfware API",
        version="1",
        description="Integration profiles, subscriptions, candidates, entitlements and "
        "reconciliation. Authenticate with `Authorization: Bearer TOKEN` "
        "(`shelfware tokens create NAME --role ROLE`).",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.state.workspace = workspace
    errors.install(api)
    for router in ROUTERS:
        api.include_router(router, responses=errors.ERROR_RESPONSES)
    for route in api.routes:
        if isinstance(route, APIRoute):
            needed = permission_of(route.dependant)
            if needed is None:
                raise RuntimeError(f"API route {route.path} names no permission (allowed(...))")
            route.openapi_extra = {**(route.openapi_extra or {}), "x-permission": needed.value}
    return api
