"""CSV downloads of the workspace's tables: every table page answers ``?format=csv`` with the
rows its filters select, streamed as they are read.

The one place that streams: a page checks its filters (a bad one is a 400 page, before a byte
is sent), then hands the rows over as a generator; the rows come either from one query read
with ``yield_per`` (a server-side cursor on PostgreSQL, SQLite's own stepping) or a keyset page
per short read session, and `kit.csv_output.csv_chunks` writes them a few thousand at a time,
each cell neutralised against formula injection. Memory holds one piece, however many rows.
A large table's export (subscriptions) has the database write its cells already safe
(`kit.csv_output.sql_csv_cells`: text neutralised, instants in ISO 8601), and each chunk the
cursor returns goes to the CSV writer whole (`csv_of_cells`): no Python per cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shelfware.kit.csv_output import csv_chunks, csv_chunks_of_cells
from shelfware.kit.db import Database
from shelfware.kit.streaming import CHUNK_ROWS, paged, streamed, streamed_chunks

__all__ = ["CHUNK_ROWS", "paged", "streamed"]


def wants_csv(request: Request) -> bool:
    return request.query_params.get("format") == "csv"


def csv_url(request: Request) -> str:
    """This page, its filters kept (its cursor dropped: an export starts at the top), as CSV."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "format")]
    return request.url.path + "?" + urlencode([*kept, ("format", "csv")])


def csv_response(name: str, pieces: Iterable[str]) -> StreamingResponse:
    """A download named ``name``.csv whose body is sent piece by piece."""
    return StreamingResponse(
        iter(pieces),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}.csv"',
            "cache-control": "no-store",
        },
    )


def download(name: str, extension: str, body: str) -> Response:
    """A whole document to save as ``name``.``extension``."""
    media = {"json": "application/json", "csv": "text/csv; charset=utf-8"}[extension]
    return Response(
        body,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="{name}.{extension}"',
            "cache-control": "no-store",
        },
    )


def csv_download(
    name: str, header: Sequence[str], rows: Iterable[Iterable[Any]]
) -> StreamingResponse:
    return csv_response(name, csv_chunks(header, rows, batch=CHUNK_ROWS))


def csv_of_cells(
    name: str, header: Sequence[str], db: Database, statement: Any
) -> StreamingResponse:
    """A download of ``statement``'s rows, whose columns the database writes as safe cells
    (`kit.csv_output.sql_csv_cells`): each chunk read goes to the CSV writer whole."""
    return csv_response(name, csv_chunks_of_cells(header, streamed_chunks(db, statement)))


def fields_of(view: type[Any]) -> list[str]:
    """The columns of a view's CSV: its fields, in order."""
    return list(view.model_fields)


def flat(item: Any, fields: Sequence[str]) -> list[Any]:
    """A view as a CSV row: instants and days in ISO 8601, a mapping as ``key=value; ...``."""
    out: list[Any] = []
    for name in fields:
        value = getattr(item, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, dict):
            value = "; ".join(f"{k}={v}" for k, v in value.items())
        out.append(value)
    return out


def views(items: Iterable[Any], fields: Sequence[str]) -> Iterator[list[Any]]:
    return (flat(item, fields) for item in items)
