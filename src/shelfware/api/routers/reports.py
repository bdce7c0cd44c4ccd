"""Reports (the CLI's ``shelfware report NAME``): JSON by default, CSV with ``?format=csv``.

Both are built from the same rows (reports/formats.py), so a report's CSV and its JSON rows
always agree; the options are the CLI's: date, rate / base, days, person."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Printable, Ws, settings_of
from shelfware.api.errors import ApiError
from shelfware.appstate import Workspace
from shelfware.licensing.savings import Granularity
from shelfware.ranges import MAX_NAME, Day
from shelfware.reports import service
from shelfware.reports.formats import csv_stream, csv_text, instant, json_rows, json_stream
from shelfware.reports.kept import current_report
from shelfware.reports.schemas import (
    ChargebackBy,
    ChargebackRow,
    ComplianceRow,
    PeopleRow,
    Rates,
    RenewalRow,
    Report,
    SavingsRow,
    TrendRow,
    UsageRow,
)

router = APIRouter(prefix="/reports", tags=["reports"])


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


FormatQ = Annotated[Format, Query(alias="format", description="json (default) or csv")]
DateQ = Annotated[
    Day | None, Query(alias="date", description="as of the end of this day (default: now)")
]
RateQ = Annotated[
    list[str] | None,
    Query(
        max_length=200,
        description="CODE=RATE: one CODE is worth RATE of `base` (repeat the parameter)",
    ),
]
BaseQ = Annotated[str, Query(min_length=1, max_length=10, description="currency of totals")]
CSV = {"text/csv": {"schema": {"type": "string"}}}


Endpoint = Callable[..., Response]


def _documented(name: str, row: type[Any], summary: str) -> Callable[[Endpoint], Endpoint]:
    return router.get(
        f"/{name}",
        response_model=Report[row],  # type: ignore[valid-type]
        summary=summary,
        responses={200: {"content": CSV, "description": "the report (JSON, or CSV rows)"}},
    )


def as_of(ws: Workspace, day: date | None) -> datetime:
    """The instant a report describes: now, or the end of the given day."""
    if day is None:
        return ws.clock.now()
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _rates(rate: RateQ = None, base: BaseQ = "USD") -> Rates | None:
    """The ``rate`` / ``base`` options as stated exchange rates (None without a rate)."""
    if not rate:
        return None
    try:
        return Rates.parse(rate, base)
    except ValidationError:
        raise  # the base currency: its own 422, naming ``base``
    except ValueError as exc:
        raise ApiError(422, str(exc).replace("--rate ", "rate ", 1), field="rate") from None


Converted = Annotated[Rates | None, Depends(_rates)]


@dataclass(frozen=True)
class Asked:
    """What every report request shares: the workspace, the format, the instant it
    describes; the guard (``reports.read``) is in the dependency that builds it."""

    ws: Workspace
    fmt: Format
    day: date | None  # as of the end of this day; None: now

    def answer(self, row: type[Any], build: Callable[..., Report[Any]], *args: Any) -> Response:
        # kept until its data changes (reports.kept): the same report by name and options
        key = ("api", build.__name__, self.day, repr(args))
        built, _ = current_report(
            self.ws,
            key,
            lambda session, now: build(
                session, now if self.day is None else as_of(self.ws, self.day), *args
            ),
        )
        # typed by its row, so that an empty report still has its columns (the CSV header)
        report = Report[row](**dict(built))  # type: ignore[valid-type]
        if self.fmt is Format.CSV:
            return Response(
                csv_text(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'inline; filename="{report.name}.csv"'},
            )
        return JSONResponse(
            {
                "name": report.name,
                "title": report.title,
                "as_of": instant(report.as_of),
                "rows": json_rows(report),
                "notes": report.notes,
            }
        )


def _dated(
    ws: Ws,
    format_: FormatQ = Format.JSON,
    date_: DateQ = None,
    _: Principal = allowed(Permission.REPORTS_READ),
) -> Asked:
    return Asked(ws, format_, date_)


def _now(
    ws: Ws, format_: FormatQ = Format.JSON, _: Principal = allowed(Permission.REPORTS_READ)
) -> Asked:
    return Asked(ws, format_, None)


Dated = Annotated[Asked, Depends(_dated)]
Now = Annotated[Asked, Depends(_now)]


@_documented("compliance", ComplianceRow, "Compliance position per software model")
def compliance(asked: Dated, rates: Converted = None) -> Response:
    """Owned, used, available and stale seats per model, with totals per currency (and one
    converted total with ``rate``)."""
    return asked.answer(ComplianceRow, service.compliance, rates)


@_documented("usage", UsageRow, "Seat holders by last activity")
def usage(asked: Dated) -> Response:
    """Seat holders per model by last activity: 0-30, 30-60, 60-90, 90+ days, never."""
    return asked.answer(UsageRow, service.usage)


@_documented("savings", SavingsRow, "Cost avoidance and realised savings per period")
def savings(
    asked: Dated,
    rates: Converted = None,
    period: Annotated[Granularity, Query(description="month, quarter or year (default)")] = "year",
    since: Annotated[Day | None, Query(description="from this day (default: 1 January)")] = None,
) -> Response:
    """Cost avoidance (seats freed while the contract is unchanged) and realised savings
    (the annual committed spend lowered, attributed to the freed seats) per period, model
    and currency."""
    return asked.answer(SavingsRow, service.savings, rates, period, since)


@_documented("renewals", RenewalRow, "Entitlements renewing soon")
def renewals(
    asked: Dated,
    days: Annotated[int, Query(ge=1, le=3650, description="look ahead this many days")] = 90,
    buffer: Annotated[
        float | None,
        Query(
            ge=0,
            le=1000,
            description="percent above the active seats to renew (default: the server's "
            "renewal buffer)",
        ),
    ] = None,
) -> Response:
    """Entitlements renewing within ``days``, with utilisation, to right-size before the
    notice date."""
    chosen = settings_of(asked.ws).renewal_buffer_percent if buffer is None else buffer
    return asked.answer(RenewalRow, service.renewals, days, chosen)


@_documented("people", PeopleRow, "One person's seats, or leavers and unmatched accounts")
def people(
    asked: Dated,
    person: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_NAME, description="one person's email"),
        Printable,
    ] = None,
) -> Response:
    """``person``'s seats; without it, leavers holding seats and unmatched accounts (every
    one, streamed as it is read: leavers by email, then accounts by id)."""
    if person is not None:
        return asked.answer(PeopleRow, service.people, person)
    at = as_of(asked.ws, asked.day)
    rows = service.people_stream(asked.ws.store.db, at)
    if asked.fmt is Format.CSV:
        return StreamingResponse(
            csv_stream(PeopleRow, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="people.csv"'},
        )
    head = Report[PeopleRow](name="people", title=service.PEOPLE_TITLE, as_of=at, rows=[])
    return StreamingResponse(json_stream(head, PeopleRow, rows), media_type="application/json")


@_documented("trends", TrendRow, "Seats and spend at each stored reconciliation")
def trends(asked: Now, rates: Converted = None) -> Response:
    """Assigned, active and stale seats and spend, from stored reconciliations."""
    return asked.answer(TrendRow, service.trends, rates)


@_documented("chargeback", ChargebackRow, "Spend charged to departments or cost centres")
def chargeback(
    asked: Dated,
    by: Annotated[
        ChargebackBy, Query(description="department (default) or cost_center")
    ] = "department",
) -> Response:
    """Each model's annual spend charged to the groups of the people holding its seats, per
    model and currency; "unassigned" (owned, not held) and "unknown" (holders with no group,
    accounts matching nobody) rows make it add up to the spend per currency."""
    return asked.answer(ChargebackRow, service.chargeback, by)
