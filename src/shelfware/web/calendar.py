"""The renewals report as month calendars: each renewal and notice date in its day's cell."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class Event:
    kind: str  # "renewal" | "notice"
    row: Any  # the report's RenewalRow


@dataclass
class Day:
    day: date
    events: list[Event] = field(default_factory=list)


@dataclass
class Month:
    title: str
    weeks: list[list[Day | None]]


def renewal_months(report: Any) -> list[Month]:
    """Every month from the first to the last date of the report (notice or renewal), as
    weeks starting on Monday; days outside the month are None."""
    events: dict[date, list[Event]] = {}
    for row in report.rows:
        events.setdefault(row.renewal_date, []).append(Event("renewal", row))
        if row.notice_date is not None:
            events.setdefault(row.notice_date, []).append(Event("notice", row))
    if not events:
        return []
    first, last = min(events), max(events)
    months: list[Month] = []
    year, month = first.year, first.month
    grid = calendar.Calendar(firstweekday=0)
    while (year, month) <= (last.year, last.month):
        weeks = [
            [Day(d, events.get(d, [])) if d.month == month else None for d in week]
            for week in grid.monthdatescalendar(year, month)
        ]
        months.append(Month(f"{calendar.month_name[month]} {year}", weeks))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
