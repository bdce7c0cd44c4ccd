"""`shelfware report compliance|usage|savings|renewals|people|trends|chargeback`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from enum import StrEnum
from itertools import islice
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shelfware.cli import output
from shelfware.cli.context import clock, console, settings, store
from shelfware.cli.entitlements import parse_day
from shelfware.reports import service
from shelfware.reports.formats import csv_stream, csv_text, json_rows, plain_rows, table_cells
from shelfware.reports.schemas import PeopleRow, Rates, Report, ReportRow

app = typer.Typer(
    help="Reports: compliance, usage, savings, renewals, people, trends, chargeback.",
    no_args_is_help=True,
)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


FormatOpt = Annotated[Format, typer.Option("--format", help="table | json | csv")]
DateOpt = Annotated[
    str | None, typer.Option("--date", help="as of the end of this day YYYY-MM-DD (default: now)")
]
RateOpt = Annotated[
    list[str] | None,
    typer.Option("--rate", help="CODE=RATE: one CODE is worth RATE of --base (repeat)"),
]
BaseOpt = Annotated[str, typer.Option("--base", help="currency of converted totals")]


def as_of(text: str | None) -> datetime:
    """The instant a report describes: now, or the end of the given day."""
    if text is None:
        return clock().now()
    day = parse_day(text, "--date")
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def rates_of(specs: list[str] | None, base: str) -> Rates | None:
    return Rates.parse(specs, base) if specs else None


def show(report: Report[Any], fmt: Format) -> None:
    if fmt is Format.json:
        import json

        print(json.dumps(json_rows(report), indent=2))
        return
    if fmt is Format.csv:
        print(csv_text(report), end="")
        return
    _table(report, titled=True)


def _table(report: Report[Any], *, titled: bool) -> None:
    headings, cells = table_cells(report)
    title = f"{report.title} (as of {report.as_of:%Y-%m-%d %H:%M} UTC)"
    grid = Table(
        title=output.cell(title) if titled else None,
        header_style="bold",
        title_justify="left",
    )
    for heading, right in headings:
        grid.add_column(heading, justify="right" if right else "left", no_wrap=True)
    for row in cells:
        grid.add_row(*(output.cell(c) for c in row))
    # Never crop a cell: when the output is not a terminal, the table gets its full width.
    out = console
    if not console.is_terminal:
        natural = console.measure(grid, options=console.options.update_width(100_000)).maximum
        out = Console(width=max(console.width, natural), emoji=False)
    out.print(grid)
    for note in report.notes:
        out.print(f"[dim]{output.literal(note)}[/]")


def show_stream(
    head: Report[Any], row_type: type[ReportRow], rows: Iterable[Any], fmt: Format
) -> None:
    """:func:`show` for a report too long to hold (``head``: its title, as of and notes),
    its rows printed as they come: the same JSON and CSV; a table per ``output.TABLE_PAGE``
    rows (one table, as :func:`show` prints it, when they fit in one)."""
    if fmt is Format.json:
        output.print_json_stream(plain_rows(row_type.columns(), rows))
        return
    if fmt is Format.csv:
        for piece in csv_stream(row_type, rows):
            print(piece, end="")
        return
    them = iter(rows)
    page, titled = list(islice(them, output.TABLE_PAGE)), True
    while True:
        following = list(islice(them, output.TABLE_PAGE)) if len(page) == output.TABLE_PAGE else []
        notes = [] if following else head.notes
        _table(head.model_copy(update={"rows": page, "notes": notes}), titled=titled)
        if not following:
            return
        page, titled = following, False


def _run(build: Callable[..., Report[Any]], fmt: Format, *args: Any) -> None:
    with store() as st, st.db.sessions() as session:
        report = build(session, *args)
    show(report, fmt)


@app.command("compliance")
def compliance(
    format_: FormatOpt = Format.table,
    date_: DateOpt = None,
    rate: RateOpt = None,
    base: BaseOpt = "USD",
) -> None:
    """Compliance position per software model, with totals per currency."""
    _run(service.compliance, format_, as_of(date_), rates_of(rate, base))


@app.command("usage")
def usage(format_: FormatOpt = Format.table, date_: DateOpt = None) -> None:
    """Seat holders by last activity: 0-30, 30-60, 60-90, 90+ days, never."""
    _run(service.usage, format_, as_of(date_))


@app.command("savings")
def savings(
    format_: FormatOpt = Format.table,
    date_: DateOpt = None,
    rate: RateOpt = None,
    base: BaseOpt = "USD",
    period: Annotated[
        Period, typer.Option("--period", help="month | quarter | year")
    ] = Period.year,
    since: Annotated[
        str | None,
        typer.Option("--since", help="from this day YYYY-MM-DD (default: 1 January)"),
    ] = None,
) -> None:
    """Cost avoidance (seats freed, contract unchanged) and realised savings (committed
    spend lowered, attributed to the freed seats) per period, model and currency."""
    start = parse_day(since, "--since") if since is not None else None
    _run(service.savings, format_, as_of(date_), rates_of(rate, base), period.value, start)


@app.command("renewals")
def renewals(
    format_: FormatOpt = Format.table,
    date_: DateOpt = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="look ahead this many days")] = 90,
    buffer: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1000,
            help="percent above the active seats to renew (default: "
            "SHELFWARE_RENEWAL_BUFFER_PERCENT, 10)",
        ),
    ] = None,
) -> None:
    """Entitlements renewing soon, with utilisation, to right-size before the notice date."""
    chosen = settings().renewal_buffer_percent if buffer is None else buffer
    _run(service.renewals, format_, as_of(date_), days, chosen)


@app.command("people")
def people(
    format_: FormatOpt = Format.table,
    person: Annotated[str | None, typer.Option("--person", help="one person's email")] = None,
    date_: DateOpt = None,
) -> None:
    """One person's seats (--person), else leavers holding seats and unmatched accounts
    (streamed: memory holds a chunk, however many accounts)."""
    if person is not None:
        _run(service.people, format_, as_of(date_), person)
        return
    at = as_of(date_)
    head = Report[PeopleRow](name="people", title=service.PEOPLE_TITLE, as_of=at, rows=[])
    with store() as st:
        show_stream(head, PeopleRow, service.people_stream(st.db, at), format_)


@app.command("trends")
def trends(
    format_: FormatOpt = Format.table,
    rate: RateOpt = None,
    base: BaseOpt = "USD",
) -> None:
    """Assigned, active and stale seats and spend, from stored reconciliations."""
    _run(service.trends, format_, clock().now(), rates_of(rate, base))


class GroupBy(StrEnum):
    department = "department"
    cost_center = "cost_center"


@app.command("chargeback")
def chargeback(
    by: Annotated[
        GroupBy, typer.Option("--by", help="department | cost_center")
    ] = GroupBy.department,
    format_: FormatOpt = Format.table,
    date_: DateOpt = None,
) -> None:
    """Annual spend charged to the departments (or cost centres) of the people holding the
    seats, per model and currency; unassigned and unknown rows make it add up to the spend."""
    _run(service.chargeback, format_, as_of(date_), by.value)
