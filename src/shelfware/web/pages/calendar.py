"""The renewals calendar feed: ``/calendar/renewals.ics?token=...`` (iCalendar, read-only).

No session and no role: the feed's own token (``shelfware calendar create``) is its
credential, and it opens nothing else. A missing, unknown or revoked token gets 404, the
same answer for each, so the URL says nothing about which feeds exist."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from shelfware.licensing import calendar
from shelfware.settings import Settings, get_settings
from shelfware.web.context import WebContext, web_context
from shelfware.web.routing import page


def _settings(ctx: WebContext) -> Settings:
    found = ctx.workspace.extras.get("settings")
    if not isinstance(found, Settings):
        found = ctx.workspace.extras["settings"] = get_settings()
    return found


def _feed(ctx: WebContext, token: str | None) -> bytes | None:
    settings = _settings(ctx)
    with ctx.store.db.sessions() as session:
        if calendar.feed_for(session, token) is None:
            return None
        return calendar.renewals_calendar(
            session, ctx.clock.now(), settings.public_url, settings.renewal_buffer_percent
        )


@page("GET", calendar.FEED_PATH, None)
async def renewals_feed(request: Request) -> Response:
    ctx = web_context(request)
    body = await run_in_threadpool(_feed, ctx, request.query_params.get("token"))
    if body is None:
        return PlainTextResponse(
            "No such calendar feed (it may have been revoked).",
            status_code=404,
            headers={"Cache-Control": "no-store"},
        )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="renewals.ics"',
        },
    )
