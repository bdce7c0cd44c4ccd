"""Printing: JSON for scripts, Rich tables for people.

Text shown to people may come from a vendor or a user: it is never read as Rich markup and
never sends escape sequences to the terminal. Tables take every cell as literal text (`cell`);
a message that puts such a value into markup wraps it in `literal`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from shelfware.cli.context import console
from shelfware.kit.text import shown


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    print(json.dumps(data, default=_default, indent=2))


def print_json_stream(items: Iterable[Any]) -> None:
    """Print ``items`` as the JSON array :func:`print_json` prints for their list, one item at
    a time (memory holds one item, however many)."""
    first = True
    for item in items:
        text = json.dumps(item, default=_default, indent=2).replace("\n", "\n  ")
        print(("[\n  " if first else ",\n  ") + text, end="")
        first = False
    print("[]" if first else "\n]")


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def literal(value: Any) -> str:
    """A value to put into a markup string: its markup escaped and its control, escape and
    bidirectional characters shown as escapes (``\\x1b``), never sent to the terminal."""
    return escape(shown(value if isinstance(value, str) else fmt(value)))


def cell(value: Any) -> Text:
    """A table cell: literal text (no markup, no emoji codes, no escape sequences)."""
    return Text(shown(value if isinstance(value, str) else fmt(value)))


def money(value: float | None, currency: str = "USD") -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} {currency}"


def table(
    title: str | None,
    columns: Sequence[str | tuple[str, str]],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
) -> None:
    """Print a table; every title, heading and cell is literal text (see `cell`)."""
    grid = Table(
        title=None if title is None else cell(title),
        caption=None if caption is None else cell(caption),
        header_style="bold",
        title_justify="left",
    )
    for column in columns:
        if isinstance(column, tuple):
            grid.add_column(cell(column[0]), justify=column[1])  # type: ignore[arg-type]
        else:
            grid.add_column(cell(column))
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    console.print(grid)


TABLE_PAGE = 1000  # rows a printed table holds; a longer listing prints one table per page


def table_pages(
    title: str | None, columns: Sequence[str | tuple[str, str]], rows: Iterable[Sequence[Any]]
) -> None:
    """:func:`table` for a listing too long to hold: a table of each ``TABLE_PAGE`` rows as
    they come (the first with the title); a listing of one page prints as :func:`table`."""
    them = iter(rows)
    page = list(islice(them, TABLE_PAGE))
    table(title, columns, page)
    while page := list(islice(them, TABLE_PAGE)):
        table(None, columns, page)
