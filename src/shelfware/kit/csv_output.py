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


def sql_iso_instant(dialect: str, column: Any) -> Any:
    """SQL: an instant (``kit.db.UTCDateTime``: naive UTC in the store) as ISO 8601 text,
    ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, the same on both stores; None stays None."""
    from sqlalchemy import String, func, literal, type_coerce

    if dialect == "postgresql":
        return func.to_char(column, literal('YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
    raw = type_coerce(column, String)  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff"
    return type_coerce(func.replace(raw, " ", "T").concat("+00:00"), String)


def sql_csv_cells(dialect: str, *columns: Any) -> list[Any]:
    """Each column as the cell a spreadsheet gets, written by the database itself: text
    neutralised (`sql_safe_cell`), instants in ISO 8601 (`sql_iso_instant`), booleans as
    ``True`` / ``False``, integers as they are. These need no work per cell in Python
    (`csv_chunks_of_cells`); a column of another type raises TypeError, so an export never
    hands a cell on unchecked."""
    from sqlalchemy import Boolean, Integer, String, case, literal, not_, type_coerce

    from shelfware.kit.db import UTCDateTime

    cells: list[Any] = []
    for column in columns:
        kind = column.type
        if isinstance(kind, UTCDateTime):
            cells.append(sql_iso_instant(dialect, column))
        elif isinstance(kind, Boolean):
            words = case((column, literal("True")), (not_(column), literal("False")))
            cells.append(type_coerce(words, String))
        elif isinstance(kind, Integer):  # digits and a sign: never a formula once written
            cells.append(column)
        elif isinstance(kind, String):
            cells.append(sql_safe_cell(column))
        else:
            raise TypeError(f"no spreadsheet-safe SQL for {column!r} of type {kind!r}")
    return cells


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


def csv_chunks_of_cells(
    header: Sequence[str], chunks: Iterable[Iterable[Sequence[Any]]]
) -> Iterator[str]:
    """A CSV document as it is written, a piece per chunk of rows whose cells are already safe
    (`sql_csv_cells`: the database wrote them): each chunk goes to ``csv.writer`` whole, no
    Python per cell; the header is checked as any cell is."""
    out = io.StringIO()
    SafeWriter(out).writerow(header)
    write = csv.writer(out, lineterminator="\r\n").writerows
    for chunk in chunks:
        write(chunk)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if out.tell():  # no row at all: the header alone
        yield out.getvalue()


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
