"""The SaaS overview dashboard.

Its figures scan every seat (at a million subscriptions that takes about a second), so they
are kept with the data stamp they were computed at (``overview.data_version``: a couple of
index look-ups). A request whose stamp matches gets them at once; otherwise the figures are
counted again in a worker thread while the page shows the previous ones, marked as updating.
Every change made through the workspace, and every sync it starts, recounts them at once
(``install_web`` makes ``recount`` the context's ``on_change``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.overview import service as overview
from shelfware.overview.schemas import Dashboard
from shelfware.web import charts
from shelfware.web.context import WebContext, web_context
from shelfware.web.routing import page
from shelfware.web.templating import render


@dataclass
class Figures:
    value: Dashboard | None = None
    version: tuple[Any, ...] | None = None
    counting: asyncio.Task[None] | None = None


def _figures(ctx: WebContext) -> Figures:
    figures: Figures = ctx.dashboard.setdefault("figures", Figures())
    return figures


def _version(ctx: WebContext) -> tuple[Any, ...]:
    with ctx.store.db.sessions() as session:
        return overview.data_version(session, ctx.clock.now())


def _count(ctx: WebContext) -> tuple[tuple[Any, ...], Dashboard]:
    now = ctx.clock.now()
    with ctx.store.db.sessions() as session:
        version = overview.data_version(session, now)  # before: a change during the count
        return version, overview.dashboard(session, now)  # shows up as a newer stamp


async def recount(ctx: WebContext) -> None:
    """Count the figures again (in a worker thread) unless they are current."""
    figures = _figures(ctx)
    if figures.counting is not None:
        await asyncio.shield(figures.counting)
    if figures.value is not None and figures.version == await asyncio.to_thread(_version, ctx):
        return
    if figures.counting is not None:  # another request started one meanwhile
        await asyncio.shield(figures.counting)
        return

    async def run() -> None:
        version, value = await asyncio.to_thread(_count, ctx)
        figures.version, figures.value = version, value

    figures.counting = asyncio.get_running_loop().create_task(run())
    try:
        await asyncio.shield(figures.counting)
    finally:
        figures.counting = None


async def current_dashboard(request: Request) -> tuple[Dashboard, bool]:
    """The figures, and whether they are current (``False``: being counted again)."""
    ctx = web_context(request)
    figures = _figures(ctx)
    version = _version(ctx)
    if figures.value is not None and figures.version == version:
        return figures.value, True
    if figures.value is None:  # the first dashboard of this process
        await recount(ctx)
        assert figures.value is not None
        return figures.value, True
    ctx.changed()
    return figures.value, False


@page("GET", "/", Permission.RECONCILIATION_READ)
async def dashboard(request: Request) -> Response:
    board, current = await current_dashboard(request)
    seats = charts.grouped(
        "Seats owned, assigned and stale per model",
        [(m.software_model, (m.owned, m.assigned, m.stale)) for m in board.models],
        ("owned", "assigned", "stale"),
    )
    trend = charts.lines(
        "Assigned, active and stale seats over time",
        [(t.as_of, (t.assigned, t.active, t.stale)) for t in board.trend],
        ("assigned", "active", "stale"),
    )
    return render(
        request,
        "dashboard.html",
        {"board": board, "seats_chart": seats, "trend_chart": trend, "current": current},
    )
