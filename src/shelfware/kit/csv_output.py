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


class _Writable(Protocol):
    def write(self, s: str, /) -> int: ...


def is_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula."""
    return text.startswith(FORMULA_STARTS) or text.lstrip(" ").startswith(FORMULA_STARTS)


def safe_cell(value: Any) -> Any:
    """The value to write in a cell: None is empty, numbers stay numbers, text that could be a
    formula gets a leading ``'``."""
    if value is None:
        return ""
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


def csv_chunks(
    header: Sequence[str], rows: Iterable[Iterable[Any]], *, batch: int = 2000
) -> Iterator[str]:
    """A CSV document as it is written, ``batch`` rows a piece (header first, every cell
    neutralised): memory holds one piece, however many rows."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
        if n >= batch:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            n = 0
    yield out.getvalue()
