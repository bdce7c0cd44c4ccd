"""Reports kept between requests of ``shelfware serve`` (the web's report pages and the API's
``/reports/...``): at a million seats a report reads every seat (0.5-2 s), so the last ones
are kept with the stamp of the data they came from (``overview.data_version``: every write
is audited, every sync leaves a run, every stored reconciliation too, the day is part of it).
When the data changed, one rebuild runs in the background and a request waits for it at
most ``SHELFWARE_REPORT_WAIT_SECONDS``; past that it gets the previous figures, with a note
saying so (``kit.kept``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shelfware.appstate import Workspace
from shelfware.kit.kept import Kept
from shelfware.overview import service as overview
from shelfware.reports.formats import instant
from shelfware.reports.schemas import Report

KEPT_REPORTS = 32  # the last reports built (by name and options)
EXTRA = "reports"  # Workspace.extras: the reports kept
DEFAULT_WAIT = 0.25

Built = Report[Any]


def kept_reports(ws: Workspace, wait: float | None = None) -> Kept[tuple[Any, ...], Built]:
    """The workspace's kept reports (made on first use; ``serve.create_app`` makes them
    with the configured wait)."""
    found = ws.extras.get(EXTRA)
    if not isinstance(found, Kept):
        found = ws.extras[EXTRA] = Kept(KEPT_REPORTS, wait=DEFAULT_WAIT if wait is None else wait)
    return found


def previous_note(report: Built) -> str:
    return (
        f"these figures are from {instant(report.as_of)}: the data changed since, and the "
        "report is being built again; ask again in a moment for the current figures"
    )


def current_report(
    ws: Workspace, key: Hashable, build: Callable[[Session, datetime], Built]
) -> tuple[Built, bool]:
    """Report ``key`` (its name and options) as kept, or built by ``build(session, now)``;
    and whether it is current (False: the previous figures, a note says so)."""
    kept = kept_reports(ws)

    def fresh() -> tuple[tuple[Any, ...], Built]:
        now = ws.clock.now()
        with ws.store.db.sessions() as session:
            version = overview.data_version(session, now)  # before: a change while it builds
            return version, build(session, now)  # shows up as a newer stamp

    with ws.store.db.sessions() as session:
        version = overview.data_version(session, ws.clock.now())
    answer = kept.get(key, version, fresh)
    if answer.current:
        return answer.value, True
    shown = answer.value.model_copy(
        update={"notes": [*answer.value.notes, previous_note(answer.value)]}
    )
    return shown, False
