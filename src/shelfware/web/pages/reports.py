"""The reports (the CLI's ``shelfware report NAME``, the API's ``/api/v1/reports/NAME``): a
list, then each report with its options as a form, on screen, and as CSV or JSON."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shelfware.accounts.roles import Permission
from shelfware.reports import service
from shelfware.reports.catalogue import REPORTS, ReportOptions, ReportSpec, run_report
from shelfware.reports.formats import (
    csv_stream,
    csv_text,
    instant,
    json_rows,
    json_stream,
    table_cells,
)
from shelfware.reports.kept import current_report
from shelfware.reports.schemas import PeopleRow, Report
from shelfware.web import calendar, charts, exports
from shelfware.web.context import WebContext, web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, SegmentName, page
from shelfware.web.templating import format_money, reader_locale, render

SHOWN_ROWS = 1000  # on screen; the downloads have every row


@page("GET", "/reports", Permission.REPORTS_READ)
async def reports(request: Request) -> Response:
    return render(request, "reports.html", {"reports": list(REPORTS.values())})


def _options(request: Request, spec: ReportSpec) -> ReportOptions:
    q = request.query_params
    raw: dict[str, Any] = {}
    for name in spec.options:
        if name == "rate":
            rates = [r.strip() for r in q.getlist("rate") for r in r.split(",") if r.strip()]
            if rates:
                raw["rate"] = rates
        elif q.get(name):
            raw[name] = q[name].strip()
    try:
        options = ReportOptions.model_validate(raw)
        options.rates()  # a bad rate: said now, by name
    except ValidationError as exc:
        raise Refused(400, one_line(exc)) from None
    except ValueError as exc:
        raise Refused(400, str(exc)) from None
    return options


def _built(ctx: WebContext, name: str, options: ReportOptions) -> Report[Any]:
    """The report, kept until its data changes, rebuilt in the background meanwhile
    (``reports.kept``: a request past the wait gets the previous figures, with a note)."""
    key = f"{name}?{options.model_dump_json()}"
    built, _ = current_report(
        ctx.workspace, key, lambda session, now: run_report(session, name, now, options)
    )
    return built


def _note(text: str) -> str:
    """A report's note in the web's words (no command-line options)."""
    return (
        text.replace("give --rate CODE=RATE (and --base)", "give exchange rates (and a base)")
        .replace("run `shelfware reconcile`", "each recorded reconciliation adds a point")
        .replace("`", "")
    )


async def _everyone(
    request: Request, ctx: WebContext, spec: ReportSpec, options: ReportOptions
) -> Response:
    """The people report without a person (leavers, and accounts matching nobody: a million
    of them, perhaps): a page on screen (keyset), the downloads streamed."""
    at = options.at(ctx.clock.now())
    head = Report[PeopleRow](name="people", title=service.PEOPLE_TITLE, as_of=at, rows=[])
    fmt = request.query_params.get("format")
    if fmt == "csv":
        return exports.csv_response(
            "people", csv_stream(PeopleRow, service.people_stream(ctx.store.db, at))
        )
    if fmt == "json":
        return StreamingResponse(
            json_stream(head, PeopleRow, service.people_stream(ctx.store.db, at)),
            media_type="application/json",
            headers={
                "content-disposition": 'attachment; filename="people.json"',
                "cache-control": "no-store",
            },
        )
    raw = request.query_params.get("cursor")
    try:
        after = service.PeopleCursor.parse(raw) if raw else None
    except ValueError as exc:
        raise Refused(400, str(exc)) from None

    def read() -> tuple[list[PeopleRow], service.PeopleCursor | None]:
        with ctx.store.db.sessions() as session:
            return service.people_page(session, at, after, service.PEOPLE_PAGE)

    rows, following = await run_in_threadpool(read)
    shown = head.model_copy(update={"rows": rows})
    headings, cells = table_cells(shown)
    next_url = None
    if following is not None:
        kept = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "format")
        ]
        next_url = request.url.path + "?" + urlencode([*kept, ("cursor", following.text())])
    return render(
        request,
        "report.html",
        {
            "spec": spec,
            "report": shown,
            "options": options,
            "headings": headings,
            "cells": [("model", row) for row in cells],
            "notes": [],
            "total": len(rows),
            "cut": False,
            "next_url": next_url,
            "csv_url": exports.csv_url(request),
            "json_url": exports.csv_url(request).removesuffix("format=csv") + "format=json",
        },
    )


@page("GET", "/reports/{name}", Permission.REPORTS_READ)
async def report(request: Request, name: SegmentName) -> Response:
    ctx = web_context(request)
    spec = REPORTS.get(name)
    if spec is None:
        raise Refused(404, f"No report named {name[:60]!r}: choose one on the reports page.")
    options = _options(request, spec)
    if name == "people" and options.person is None:
        return await _everyone(request, ctx, spec, options)
    try:
        built = await run_in_threadpool(_built, ctx, name, options)
    except USER_ERRORS as exc:
        raise Refused(400, one_line(exc)) from None
    fmt = request.query_params.get("format")
    if fmt == "csv":
        return exports.csv_response(built.name, [csv_text(built)])
    if fmt == "json":
        body = {
            "name": built.name,
            "title": built.title,
            "as_of": instant(built.as_of),
            "rows": json_rows(built),
            "notes": built.notes,
        }
        return exports.download(built.name, "json", json.dumps(body, indent=2))
    locale = reader_locale(request.headers.get("accept-language"))
    total = len(built.rows)
    shown = built.model_copy(update={"rows": built.rows[:SHOWN_ROWS]})
    headings, cells = table_cells(shown, lambda v, cur: format_money(v, cur, locale))
    kinds = [getattr(row, "row_type", "model") for row in shown.rows]
    extra: dict[str, Any] = {}
    if name == "trends":
        extra["chart"] = charts.trend_lines(built)
    if name == "renewals":
        extra["months"] = calendar.renewal_months(built)
    return render(
        request,
        "report.html",
        {
            "spec": spec,
            "report": built,
            "options": options,
            "headings": headings,
            "cells": list(zip(kinds, cells, strict=True)),
            "notes": [_note(n) for n in built.notes],
            "total": total,
            "cut": total > SHOWN_ROWS,
            "csv_url": exports.csv_url(request),
            "json_url": exports.csv_url(request).removesuffix("format=csv") + "format=json",
            **extra,
        },
    )
