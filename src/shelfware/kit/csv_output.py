"""CSV for spreadsheets: every CSV shelfware writes goes through here.

A text cell that a spreadsheet would read as a formula (OWASP "CSV injection": it starts with
``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed, possibly after spaces) is
neutralised with a leading single quote, so ``=HYPERLINK(...)`` is shown as text, never run.
Numbers are written as numbers (``-12.5`` stays ``-12.5``): only text is changed, and only text
can come from outside.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_FIRST = frozenset(FORMULA_STARTS)  # each one character


class _Writable(Protocol):
    def write(self, s: str, /) -> int: ...


def sql_safe_cell(text: Any) -> Any:
    """SQL for `safe_cell` of a text column, for exports written by the database itself: a
    value a spreadsheet could read as a formula gets a leading ``'`` (both stores)."""
    from sqlalchemy import String, case, func, literal, type_coerce

    first = func.substr(func.ltrim(text, literal(" ")), 1, 1)
    starts = [literal(s) for s in FORMULA_STARTS]
    return type_coerce(case((first.in_(starts), literal("'").concat(text)), else_=text), String)


def is_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula."""
    return text.startswith(FORMULA_STARTS) or text.lstrip(" ").startswith(FORMULA_STARTS)


def safe_cell(value: Any) -> Any:
    """The value to write in a cell: None is empty, numbers stay numbers, text that could be a
    formula gets a leading ``'``."""
    if value is None:
        return ""
    if type(value) is str:  # the common case, checked without a call (large exports)
        if value and (value[0] in _FIRST or (value[0] == " " and is_formula(value))):
            return "'" + value
        return value
    if isinstance(value, int | float | Decimal):  # bool too: written True / False
        return value
    text = str(value)
    return "'" + text if is_formula(text) else text


class SafeWriter:
    """`csv.writer` whose rows are neutralised cell by cell (`safe_cell`)."""

    def __init__(self, out: _Writable, **options: Any) -> None:
        # CRLF (RFC 4180): a cell holding a CR or an LF is then always quoted
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_text(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV document (header first), every cell neutralised."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
