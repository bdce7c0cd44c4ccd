"""Printing: JSON for scripts, Rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.table import Table

from shelfware.cli.context import console


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
    grid = Table(title=title, caption=caption, header_style="bold", title_justify="left")
    for column in columns:
        if isinstance(column, tuple):
            grid.add_column(column[0], justify=column[1])  # type: ignore[arg-type]
        else:
            grid.add_column(column)
    for row in rows:
        grid.add_row(*(value if isinstance(value, str) else fmt(value) for value in row))
    console.print(grid)
