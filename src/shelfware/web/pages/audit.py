"""The audit trail (admin): filters by action, actor and date, keyset pages, a CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.audit import service
from shelfware.audit.service import MAX_PAGE, AuditQuery
from shelfware.kit.clock import utc
from shelfware.store import Store
from shelfware.web import exports
from shelfware.web.context import web_context
from shelfware.web.errors import one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import render

PAGE = 100
FILTERS = ("action", "actor", "since", "until")


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` from a date field as an instant: its midnight (UTC), or the next
    midnight for ``until`` (the day itself included)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused(400, f"{text[:40]!r} is not a date (YYYY-MM-DD)") from None
    return utc(datetime.combine(day + timedelta(days=1) if end else day, time()))


def _query(request: Request) -> tuple[AuditQuery, dict[str, str]]:
    params = request.query_params
    filters = {k: params[k] for k in FILTERS if params.get(k)}
    before = params.get("before") or None
    if before is not None and (not before.isdigit() or len(before) > 19):
        raise Refused(400, "before: an event id")
    try:
        query = AuditQuery(
            action=filters.get("action"),
            actor=filters.get("actor"),
            since=_day(filters.get("since")),
            until=_day(filters.get("until"), end=True),
            before=None if before is None else int(before),
            limit=PAGE,
        )
    except ValidationError as exc:
        raise Refused(400, one_line(exc)) from None
    return query, filters


@page("GET", "/audit", Permission.AUDIT_READ)
async def audit_trail(request: Request) -> Response:
    ctx = web_context(request)
    query, filters = _query(request)
    if request.query_params.get("format") == "csv":
        return exports.csv_response("audit", _csv(ctx.store, query))
    with ctx.store.db.sessions() as session:
        found = service.page_events(session, query)
    next_url = None
    if found.next_before is not None:
        next_url = "/audit?" + urlencode({**filters, "before": found.next_before})
    return render(
        request,
        "audit.html",
        {
            "page": found,
            "filters": filters,
            "next_url": next_url,
            "csv_url": "/audit?" + urlencode({**filters, "format": "csv"}),
        },
    )


def _csv(store: Store, query: AuditQuery) -> Iterator[str]:
    """Every matching event, a page per short read transaction, streamed as it is read."""
    wanted = query.model_copy(update={"limit": MAX_PAGE, "before": None})
    header = True
    while True:
        with store.db.sessions() as session:
            found = service.page_events(session, wanted)
        yield from service.csv_lines(found.events, header=header)
        header = False
        if found.next_before is None:
            return
        wanted = wanted.model_copy(update={"before": found.next_before})
