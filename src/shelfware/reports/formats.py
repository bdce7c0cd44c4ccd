"""A report's rows as JSON objects, CSV text, or table cells: all three walk the same row
schema, column by column, so they always agree."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from shelfware.kit import csv_output
from shelfware.reports.schemas import Kind, Report, ReportRow

FORMATS = ("table", "json", "csv")


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any, kind: Kind) -> Any:
    """The JSON value of a cell (CSV writes its text; None is empty there)."""
    if value is None:
        return None
    if kind == "instant" and isinstance(value, datetime):
        return instant(value)
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    if kind == "money":
        return round(float(value), 2)
    if kind == "percent":
        return round(float(value), 1)
    return value


def cell(value: Any, kind: Kind) -> str:
    """The table text of a cell."""
    if value is None:
        return "—"
    if kind == "money":
        return f"{float(value):,.2f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "percent":
        return f"{float(value):.1f}"
    if kind == "instant" and isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _columns(report: Report[Any]) -> list[tuple[str, str, Kind]]:
    rows: list[ReportRow] = report.rows
    if rows:
        return type(rows[0]).columns()
    row_type = report.__class__.model_fields["rows"].annotation
    args = getattr(row_type, "__args__", ())
    return args[0].columns() if args else []


def json_rows(report: Report[Any]) -> list[dict[str, Any]]:
    return list(plain_rows(_columns(report), report.rows))


def plain_rows(
    columns: list[tuple[str, str, Kind]], rows: Iterable[ReportRow]
) -> Iterator[dict[str, Any]]:
    """Each row as the JSON object :func:`json_rows` makes of it, as the rows come."""
    for row in rows:
        yield {key: plain(row[key], kind) for key, _, kind in columns}


def csv_text(report: Report[Any]) -> str:
    """The report as CSV; text a spreadsheet could run as a formula is neutralised (numbers
    stay numbers), see `kit.csv_output`."""
    columns = _columns(report)
    return csv_output.csv_text(
        [key for key, _, _ in columns],
        ([row[key] for key, _, _ in columns] for row in json_rows(report)),
    )


def table_cells(
    report: Report[Any], money: Callable[[Any, str | None], str] | None = None
) -> tuple[list[tuple[str, bool]], list[list[str]]]:
    """Headings (with "align right") and the cells of every row; ``money(value, currency)``
    writes the money cells (with the row's currency) when given."""
    columns = _columns(report)
    headings = [(title, kind in ("int", "money", "percent")) for _, title, kind in columns]

    def shown(row: Any, key: str, kind: Kind) -> str:
        if money is not None and kind == "money" and row[key] is not None:
            return money(row[key], getattr(row, "currency", None))
        return cell(row[key], kind)

    cells = [[shown(row, key, kind) for key, _, kind in columns] for row in report.rows]
    return headings, cells


# --------------------------------------------------------------------------- streamed
# A report too long to hold (the people report over a million unmatched accounts): its rows
# written as they come, a piece of ``batch`` rows at a time, in the same columns and values
# as the whole report's CSV and JSON above.

STREAM_BATCH = 2000


def _row_values(columns: list[tuple[str, str, Kind]], row: ReportRow) -> list[Any]:
    return [plain(row[key], kind) for key, _, kind in columns]


def csv_stream(
    row_type: type[ReportRow], rows: Iterable[ReportRow], *, batch: int = STREAM_BATCH
) -> Iterator[str]:
    """CSV text of ``rows`` piece by piece (header first), every cell neutralised."""
    columns = row_type.columns()
    return csv_output.csv_chunks(
        [key for key, _, _ in columns],
        (_row_values(columns, row) for row in rows),
        batch=batch,
    )


def json_stream(
    head: Report[Any], row_type: type[ReportRow], rows: Iterable[ReportRow], *, batch: int = 500
) -> Iterator[str]:
    """The JSON document of a report (``head``'s name, title, as of and notes) whose rows are
    ``rows``, piece by piece: the same document ``json_rows`` makes, without holding it."""
    columns = row_type.columns()
    opening = json.dumps({"name": head.name, "title": head.title, "as_of": instant(head.as_of)})
    yield opening[:-1] + ', "rows": ['
    pending: list[str] = []
    first = True
    for row in rows:
        pending.append(
            json.dumps(
                dict(zip([k for k, _, _ in columns], _row_values(columns, row), strict=True))
            )
        )
        if len(pending) >= batch:
            yield ("" if first else ", ") + ", ".join(pending)
            first, pending = False, []
    if pending:
        yield ("" if first else ", ") + ", ".join(pending)
    yield '], "notes": ' + json.dumps(head.notes) + "}"
