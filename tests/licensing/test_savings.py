"""Savings the way finance counts them, through the real services (entitlement edits and
ends on the injected clock): seats reclaimed are cost avoidance until the contract is
lowered; then the committed spend's fall becomes realised savings, attributed to those seats
oldest first and never beyond their value. The dashboard shows the same figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database
from shelfware.licensing import service as licensing
from shelfware.licensing.savings import period_of, periods_between
from shelfware.licensing.schemas import EntitlementCreate, EntitlementUpdate
from shelfware.models import IntegrationProfile, RemovalCandidate, Subscription
from shelfware.overview import service as overview
from shelfware.profiles import service as profiles
from shelfware.reports import service as reports

MODEL = "Acme Docs Pro"
JAN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def freed(db: Database, clock: FrozenClock, n: int, closed: datetime) -> None:
    """``n`` seats reclaimed at ``closed``, each recording 100 a year freed."""
    with db.transaction() as s:
        model = licensing.find_model(s, MODEL)
        profile_id = s.scalar(select(IntegrationProfile.id))
        for i in range(n):
            sub = Subscription(
                profile_id=profile_id,
                software_model_id=model.id,
                external_id=f"{closed:%m%d}-{i}",
                active=False,
                edition="Pro",
                first_seen_at=JAN,
            )
            s.add(sub)
            s.flush()
            s.add(
                RemovalCandidate(
                    subscription_id=sub.id,
                    profile_id=profile_id,
                    software_model_id=model.id,
                    state="closed_complete",
                    justification="low_usage",
                    realised_saving=Decimal(100),
                    created_at=closed,
                    updated_at=closed,
                    closed_at=closed,
                )
            )


def rows_of(db: Database, now: datetime, period: str = "month") -> dict[str, dict[str, float]]:
    with db.sessions() as s:
        report = reports.savings(s, now, period=period)  # type: ignore[arg-type]
    keys = ("seats_freed", "freed_value", "cost_avoidance", "commitment_reduction")
    return {
        r.period: {k: r[k] for k in (*keys, "realised_savings")}
        for r in report.rows
        if r.row_type == "model"
    }


def organisation(db: Database, clock: FrozenClock) -> int:
    """The model, a profile, and a contract of 10 seats at 100 a year; its id."""
    with db.transaction() as s:
        profiles.ensure_software_model(s, clock, "Acme", "Docs", "Pro")
        s.add(
            IntegrationProfile(
                name="p",
                kind="rally",
                url="https://x.example",
                options={},
                analyze_activity_from=JAN,
                created_at=JAN,
                updated_at=JAN,
                connection_changed_at=JAN,
            )
        )
        first = licensing.add_entitlement(
            s,
            clock,
            EntitlementCreate(model=MODEL, seats=10, unit_cost=100, term_start=date(2025, 7, 1)),
        ).id
    return first


def test_avoided_until_the_contract_is_lowered_then_realised(db: Database) -> None:
    clock = FrozenClock(JAN)
    first = organisation(db, clock)
    freed(db, clock, 3, datetime(2026, 2, 10, tzinfo=UTC))

    # March: three seats freed in February, the contract unchanged: all cost avoidance
    march = datetime(2026, 3, 15, tzinfo=UTC)
    assert rows_of(db, march) == {
        "2026-02": {
            "seats_freed": 3,
            "freed_value": 300.0,
            "cost_avoidance": 300.0,
            "commitment_reduction": 0.0,
            "realised_savings": 0.0,
        }
    }

    # April: the contract is lowered in place by two seats: 200 a year realised
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    with db.transaction() as s:
        licensing.edit_entitlement(s, clock, EntitlementUpdate(id=first, seats=8))
    april = rows_of(db, datetime(2026, 4, 30, tzinfo=UTC))
    assert april["2026-02"]["cost_avoidance"] == 100.0  # one freed seat left unrealised
    assert april["2026-04"] == {
        "seats_freed": 0,
        "freed_value": 0.0,
        "cost_avoidance": 0.0,
        "commitment_reduction": 200.0,
        "realised_savings": 200.0,
    }

    # true-down at renewal: the contract ends on 30 June, a new one of 5 seats follows; the
    # spend falls by 300 but only the last freed seat (100) explains it
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    with db.transaction() as s:
        licensing.end_entitlement(s, clock, first, date(2026, 6, 30))
        licensing.add_entitlement(
            s,
            clock,
            EntitlementCreate(model=MODEL, seats=5, unit_cost=100, term_start=date(2026, 7, 1)),
        )
    august = datetime(2026, 8, 1, tzinfo=UTC)
    months = rows_of(db, august)
    assert months["2026-02"]["cost_avoidance"] == 0.0
    assert months["2026-07"]["commitment_reduction"] == 300.0
    assert months["2026-07"]["realised_savings"] == 100.0
    year = rows_of(db, august, "year")["2026"]
    assert year == {
        "seats_freed": 3,
        "freed_value": 300.0,
        "cost_avoidance": 0.0,
        "commitment_reduction": 500.0,
        "realised_savings": 300.0,  # never more than the freed seats' value
    }
    # a quarter's view says the same in total
    quarters = rows_of(db, august, "quarter")
    assert sum(q["realised_savings"] for q in quarters.values()) == 300.0

    # the dashboard: the former "realised" figure is cost avoidance, realised is added
    with db.sessions() as s:
        [usd] = overview.dashboard(s, august).totals
    assert (usd.cost_avoidance_ytd, usd.realised_savings_ytd) == (0.0, 300.0)
    with db.sessions() as s:
        [before] = overview.dashboard(s, march).totals
    assert (before.cost_avoidance_ytd, before.realised_savings_ytd) == (300.0, 0.0)


def test_periods() -> None:
    assert period_of(date(2026, 11, 20), "quarter").label == "2026-Q4"
    assert period_of(date(2026, 12, 31), "month").end == date(2026, 12, 31)
    assert [p.label for p in periods_between(date(2025, 11, 3), date(2026, 2, 1), "month")] == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert periods_between(date(2026, 1, 1), date(2026, 1, 1), "year")[0].end == date(2026, 12, 31)
    assert period_of(date(2026, 2, 1), "month").start + timedelta(days=27) == date(2026, 2, 28)
