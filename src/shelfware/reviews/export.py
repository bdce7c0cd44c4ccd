"""The campaign report as evidence: CSV, JSON and a printable HTML page, streamed.

Every item with its reviewer, decision, reason, time and the outcome of each revoke, read in
batches and written in chunks: memory stays bounded whatever the campaign's size. CSV cells
are neutralised (``kit.csv_output``); the HTML page is autoescaped.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from shelfware.reviews.schemas import CampaignView, ReviewerProgress
from shelfware.reviews.service import REPORT_HEADER

CHUNK = 2000  # rows per written chunk
FORMATS = ("csv", "json", "html")
_PAGES = Environment(
    loader=PackageLoader("shelfware.reviews", "templates"),
    autoescape=select_autoescape(["html"]),
)


def csv_chunks(records: Iterable[Sequence[Any]]) -> Iterator[str]:
    """``records`` come neutralised from the database (``reviews.report_records``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    rows = iter(records)
    while batch := list(itertools.islice(rows, CHUNK)):
        writer.writerows(batch)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def json_chunks(records: Iterable[Sequence[Any]]) -> Iterator[str]:
    """A JSON array of objects (one per item, ``REPORT_HEADER``'s keys)."""
    parts: list[str] = []
    first = True
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    for record in records:
        parts.append(
            ("[" if first else ",\n") + dumps(dict(zip(REPORT_HEADER, record, strict=True)))
        )
        first = False
        if len(parts) >= CHUNK:
            yield "".join(parts)
            parts = []
    parts.append("[]" if first else "]\n")
    yield "".join(parts)


def html_chunks(
    campaign: CampaignView,
    progress: Sequence[ReviewerProgress],
    records: Iterable[Sequence[Any]],
    generated_at: datetime,
) -> Iterator[str]:
    """The printable page: the campaign, completion per reviewer, then every item."""
    page = _PAGES.get_template("report.html")
    yield from page.generate(
        campaign=campaign,
        progress=progress,
        rows=records,
        header=REPORT_HEADER,
        generated_at=generated_at,
    )


def chunks(
    fmt: str,
    campaign: CampaignView,
    progress: Sequence[ReviewerProgress],
    records: Iterable[Sequence[Any]],
    generated_at: datetime,
) -> Iterator[str]:
    if fmt == "csv":
        return csv_chunks(records)
    if fmt == "json":
        return json_chunks(records)
    if fmt == "html":
        return html_chunks(campaign, progress, records, generated_at)
    raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "html": "text/html"}
