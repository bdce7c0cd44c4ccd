"""The SaaS overview dashboard."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.overview import service as overview
from shelfware.overview.schemas import Dashboard
from shelfware.web.context import web_context
from shelfware.web.routing import page
from shelfware.web.templating import render


def current_dashboard(request: Request) -> Dashboard:
    """The dashboard, computed again only when the data it depends on changed."""
    ctx = web_context(request)
    now = ctx.clock.now()
    with ctx.store.db.sessions() as session:
        version = overview.data_version(session, now)
        cached = ctx.dashboard
        if cached.get("version") != version:
            cached.clear()
            cached["value"] = overview.dashboard(session, now)
            cached["version"] = version
    value: Dashboard = cached["value"]
    return value


@page("GET", "/", Permission.RECONCILIATION_READ)
async def dashboard(request: Request) -> Response:
    board = current_dashboard(request)
    seat_rows = [(m.software_model, m.owned, m.assigned, m.stale) for m in board.models]
    return render(request, "dashboard.html", {"board": board, "seat_rows": seat_rows})
