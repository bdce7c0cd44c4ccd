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
from collections.abc import Iterable, Iterator, Sequence
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


_NUMBERS = (int, float, Decimal, bool)


def safe_cell(value: Any) -> Any:
    """The value to write in a cell: None is empty, numbers stay numbers, text that could be a
    formula gets a leading ``'``."""
    if value is None:
        return ""
    kind = type(value)
    if kind in _NUMBERS or (kind is not str and isinstance(value, int | float | Decimal)):
        return value  # bool too: written True / False
    text = value if kind is str else str(value)
    # the first character decides, unless it is a space (then the first one after spaces)
    if text and (text[0] in _FIRST or (text[0] == " " and is_formula(text))):
        return "'" + text
    return text


class SafeWriter:
    """`csv.writer` whose rows are neutralised cell by cell (`safe_cell`)."""

    def __init__(self, out: _Writable, **options: Any) -> None:
        # CRLF (RFC 4180): a cell holding a CR or an LF is then always quoted
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._writer.writerows([safe_cell(v) for v in row] for row in rows)


def csv_text(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV document (header first), every cell neutralised."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csv_chunks(
    header: Sequence[str], rows: Iterable[Iterable[Any]], *, batch: int = 2000
) -> Iterator[str]:
    """A CSV document as it is written, ``batch`` rows a piece (header first, every cell
    neutralised): memory holds one piece, however many rows."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(header)
    pending: list[Iterable[Any]] = []
    for row in rows:
        pending.append(row)
        if len(pending) >= batch:
            writer.writerows(pending)
            pending.clear()
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    writer.writerows(pending)
    yield out.getvalue()
