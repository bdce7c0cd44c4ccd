"""Strict CSV input: files people export from other tools (user reports, entitlement lists).

Copes with what such files really look like (a UTF-8 byte-order mark, quoting, any column
order, blank lines, `;` or tab separators, header names in any case and spacing) and rejects
everything else with the line number and the reason, before anything is used: a caller gets
every row or an error, never half a file. A column it does not know refuses the file too (a
misspelt "Contract Ref" must not be dropped in silence); a vendor's own export, which has
columns of its own, is read with `unknown="ignore"`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

MAX_CSV_BYTES = 50 * 1024 * 1024
MAX_ROWS = 1_000_000


class CsvInputError(ValueError):
    """The file is not acceptable; the message names the line and the reason."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int  # 1-based line of the file where the row starts
    values: Mapping[str, str]  # canonical column name -> value (stripped)


def _canonical(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().replace("_", " ").split())


def read_csv(
    data: bytes,
    *,
    columns: Mapping[str, Iterable[str]],
    required: Iterable[str],
    what: str = "the file",
    unknown: Literal["refuse", "ignore"] = "refuse",
) -> list[CsvRow]:
    """Rows of `data` keyed by canonical column names.

    `columns` maps each canonical name to the header spellings accepted for it (compared
    case- and space-insensitively); another header refuses the file, naming it (``unknown=
    "ignore"``: it is left out). `required` columns must be present in the header and
    non-empty in every row.
    """
    if len(data) > MAX_CSV_BYTES:
        raise CsvInputError(f"{what} is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CsvInputError(f"{what}, line {line}: not UTF-8 text") from None
    if not text.strip():
        raise CsvInputError(f"{what} is empty")
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
    accepted = {
        _canonical(alias): name for name, aliases in columns.items() for alias in [name, *aliases]
    }
    header: list[str | None] | None = None
    rows: list[CsvRow] = []
    required = list(required)
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if header is None:
                header = [accepted.get(_canonical(cell)) for cell in record]
                named = [h for h in header if h]
                duplicated = sorted({h for h in named if named.count(h) > 1})
                if duplicated:
                    raise CsvInputError(
                        f"{what}, line {line}: column {duplicated[0]!r} appears twice"
                    )
                missing = [c for c in required if c not in named]
                if missing:
                    raise CsvInputError(
                        f"{what}, line {line}: the header has no {', '.join(map(repr, missing))} "
                        f"column (found: {', '.join(c.strip() for c in record)})"
                    )
                strangers = [
                    cell.strip()
                    for cell, name in zip(record, header, strict=True)
                    if name is None and cell.strip()
                ]
                if strangers and unknown == "refuse":
                    known = ", ".join(columns)
                    raise CsvInputError(
                        f"{what}, line {line}: unknown column "
                        f"{', '.join(map(repr, strangers))} (known columns: {known})"
                    )
                continue
            if len(record) > len(header):
                extra = record[len(header) :]
                if any(cell.strip() for cell in extra):
                    raise CsvInputError(
                        f"{what}, line {line}: {len(record)} fields where the header has "
                        f"{len(header)}"
                    )
            values = {
                name: record[i].strip()
                for i, name in enumerate(header)
                if name is not None and i < len(record)
            }
            empty = [c for c in required if not values.get(c)]
            if empty:
                raise CsvInputError(f"{what}, line {line}: no value for {empty[0]!r}")
            rows.append(CsvRow(line, values))
            if len(rows) > MAX_ROWS:
                raise CsvInputError(f"{what} has more than {MAX_ROWS} rows")
    except csv.Error as error:
        raise CsvInputError(f"{what}, line {reader.line_num}: {error}") from None
    if header is None:
        raise CsvInputError(f"{what} has no header line")
    return rows
