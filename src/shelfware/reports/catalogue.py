"""The reports a face offers, each with the options it takes: one table, so that the web's
forms, the CLI and the API describe the same reports with the same options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from shelfware.ranges import MAX_NAME, Day
from shelfware.reports import service
from shelfware.reports.schemas import (
    ChargebackBy,
    ChargebackRow,
    ComplianceRow,
    PeopleRow,
    Rates,
    RenewalRow,
    Report,
    ReportRow,
    SavingsRow,
    TrendRow,
    UsageRow,
)


class ReportOptions(BaseModel):
    """Every option a report may take (each report reads the ones it lists)."""

    model_config = ConfigDict(extra="forbid")

    date: Day | None = Field(default=None, description="as of the end of this day")
    rate: list[str] = Field(default=[], max_length=50)
    base: str = Field(default="USD", min_length=1, max_length=10)
    days: int = Field(default=service.RENEWAL_DAYS, ge=1, le=3650)
    person: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    by: ChargebackBy = "department"

    def at(self, now: datetime) -> datetime:
        """The instant the report describes: now, or the end of ``date``."""
        if self.date is None:
            return now
        return datetime.combine(self.date, time(23, 59, 59), tzinfo=UTC)

    def rates(self) -> Rates | None:
        """The stated exchange rates (ValueError naming the bad one)."""
        if not self.rate:
            return None
        try:
            return Rates.parse(self.rate, self.base)
        except ValidationError as exc:
            raise ValueError(f"base: {exc.errors()[0]['msg']}") from None
        except ValueError as exc:
            raise ValueError(str(exc).replace("--rate ", "rate ", 1)) from None


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    summary: str
    options: tuple[str, ...]  # the ReportOptions fields it takes
    row: type[ReportRow]
    build: Callable[[Session, datetime, ReportOptions], Report[Any]]
    dated: bool = True  # takes ``date``


REPORTS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        ReportSpec(
            "compliance",
            "License compliance",
            "Owned, used, available and stale seats per model, with totals per currency.",
            ("date", "rate", "base"),
            ComplianceRow,
            lambda s, at, o: service.compliance(s, at, o.rates()),
        ),
        ReportSpec(
            "usage",
            "Last activity",
            "Seat holders per model by days since their last activity.",
            ("date",),
            UsageRow,
            lambda s, at, o: service.usage(s, at),
        ),
        ReportSpec(
            "savings",
            "Savings",
            "Potential savings (stale and unassigned seats) against savings realised this year.",
            ("date", "rate", "base"),
            SavingsRow,
            lambda s, at, o: service.savings(s, at, o.rates()),
        ),
        ReportSpec(
            "renewals",
            "Renewals",
            "Entitlements renewing soon, with utilisation and the seats to renew.",
            ("date", "days"),
            RenewalRow,
            lambda s, at, o: service.renewals(s, at, o.days),
        ),
        ReportSpec(
            "people",
            "People",
            "One person's seats across apps; else leavers holding seats and accounts "
            "matching nobody.",
            ("date", "person"),
            PeopleRow,
            lambda s, at, o: service.people(s, at, o.person),
        ),
        ReportSpec(
            "trends",
            "Trends",
            "Assigned, active and stale seats and spend at each stored reconciliation.",
            ("rate", "base"),
            TrendRow,
            lambda s, at, o: service.trends(s, at, o.rates()),
            dated=False,
        ),
        ReportSpec(
            "chargeback",
            "Chargeback",
            "Annual spend charged to the departments or cost centres of the seat holders.",
            ("date", "by"),
            ChargebackRow,
            lambda s, at, o: service.chargeback(s, at, o.by),
        ),
    )
}


def run_report(session: Session, name: str, now: datetime, options: ReportOptions) -> Report[Any]:
    """Build report ``name`` (LookupError for an unknown one), typed by its row so that an
    empty report still has its columns."""
    spec = REPORTS.get(name)
    if spec is None:
        raise LookupError(f"no report named {name!r}: choose one of {', '.join(REPORTS)}")
    at = options.at(now) if spec.dated else now
    built = spec.build(session, at, options)
    return Report[spec.row](**dict(built))  # type: ignore[name-defined]
