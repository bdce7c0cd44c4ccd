"""The SaaS overview dashboard (DOMAIN.md "Dashboard metrics").

Totals come from ``licensing.reconcile`` itself, so the dashboard and ``reconcile --json``
always agree; one grouped scan of the seats adds what reconciliation does not give (activity
buckets, stale seats per profile). ``data_version`` is a cheap stamp that changes with every
write the figures depend on, so a face may keep the last dashboard until it changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from shelfware.kit.db import UTCDateTime
from shelfware.licensing import service as licensing
from shelfware.licensing.pricing import annualise, day_of
from shelfware.licensing.savings import savings_book
from shelfware.licensing.service import reconcile
from shelfware.models import (
    OPEN_STATES,
    AuditEvent,
    Entitlement,
    IntegrationProfile,
    Person,
    ReconciliationRun,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
    SyncRun,
)
from shelfware.overview.schemas import (
    BUCKETS,
    CurrencyTotals,
    Dashboard,
    ModelSeats,
    ProfileSavings,
    Renewal,
    TrendPoint,
)
from shelfware.reports import service as reports
from shelfware.reports.schemas import TrendRow
from shelfware.subscriptions.service import stale_condition

S = Subscription.__table__.c
RENEWALS_SHOWN = 10
TREND_POINTS = 90  # a line per measure: the last three months of daily reconciliations


def data_version(session: Session, now: datetime) -> tuple[Any, ...]:
    """Changes whenever a figure of the dashboard can: every write is audited, every sync
    leaves a run record, every stored reconciliation too, and thresholds move with the day."""
    audit_max = session.scalar(select(func.max(AuditEvent.id)))
    run_max, finished = session.execute(
        select(func.max(SyncRun.id), func.max(SyncRun.finished_at))
    ).one()
    reconciled = session.scalar(select(func.max(ReconciliationRun.id)))
    return (now.astimezone(UTC).date(), audit_max, run_max, finished, reconciled)


def _instant(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _seat_scan(session: Session, now: datetime) -> list[Any]:
    """Per profile and model: seats, stale seats and the last-activity buckets."""
    stale = stale_condition(session, now)
    last = S.last_activity_at
    d30, d60, d90 = (_instant(now - timedelta(days=n)) for n in (30, 60, 90))

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    return list(
        session.execute(
            select(
                S.profile_id,
                S.software_model_id,
                func.count(),
                count(stale),
                count(last >= d30),
                count(and_(last < d30, last >= d60)),
                count(and_(last < d60, last >= d90)),
                count(last < d90),
                count(last.is_(None)),
            )
            .where(S.active.is_(True), S.gone_at.is_(None))
            .group_by(S.profile_id, S.software_model_id)
        )
    )


def _spend(session: Session, now: datetime) -> dict[str, Decimal]:
    """Annualised cost of the entitlements in force today, per currency."""
    today = now.astimezone(UTC).date()
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for ent in session.scalars(
        select(Entitlement).where(
            or_(Entitlement.term_start.is_(None), Entitlement.term_start <= today),
            or_(Entitlement.term_end.is_(None), Entitlement.term_end >= today),
        )
    ):
        if ent.unit_cost is None:
            continue  # no price (a vendor-managed entitlement not priced yet): no spend known
        spend[ent.currency] += annualise(Decimal(ent.unit_cost), ent.billing_period) * ent.seats
    return spend


def upcoming_renewals(
    session: Session, now: datetime, limit: int = RENEWALS_SHOWN
) -> list[Renewal]:
    """Entitlements renewing or ending from today on, soonest first."""
    today = now.astimezone(UTC).date()
    when = func.coalesce(Entitlement.renewal_date, Entitlement.term_end)
    rows = session.execute(
        select(Entitlement, SoftwareModel)
        .join(SoftwareModel, SoftwareModel.id == Entitlement.software_model_id)
        .where(when >= today)
        .order_by(when, Entitlement.id)
        .limit(limit)
    )
    return [
        Renewal(
            software_model=model.display_name,
            seats=ent.seats,
            renewal_date=ent.renewal_date or ent.term_end,
            notice_date=ent.notice_date,
            contract_ref=ent.contract_ref,
        )
        for ent, model in rows
    ]


def dashboard(session: Session, now: datetime) -> Dashboard:
    rows = reconcile(session, now)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        money = totals[row.currency]
        for key in ("potential_savings", "true_up_cost"):
            money[key] += getattr(row, key) or 0.0
        money["potential_stale"] += row.savings_stale or 0.0
        money["potential_unassigned"] += row.savings_unassigned or 0.0
        money["over_licensed_amount"] += row.over_licensed_amount or 0.0
    for currency, amount in _spend(session, now).items():
        totals[currency]["spend"] += float(amount)
    # cost avoidance (the former "realised" figure) and realised savings, as `report savings`
    book = savings_book(session, now, "year")
    this_year = str(day_of(now).year)
    for label, figures in book.figures.items():
        for (_, currency), f in figures.items():
            money = totals[currency]
            money["cost_avoidance"] += float(f.avoided)
            money["realised_savings"] += float(f.realised)
            if label == this_year:
                money["cost_avoidance_ytd"] += float(f.avoided)
                money["realised_savings_ytd"] += float(f.realised)
    prices = book.prices
    names = dict(session.execute(select(IntegrationProfile.id, IntegrationProfile.name)).all())
    buckets = dict.fromkeys(BUCKETS, 0)
    per_profile: dict[tuple[str | None, str], list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for profile_id, model_id, _seats, stale, *counts in _seat_scan(session, now):
        for label, n in zip(BUCKETS, counts, strict=True):
            buckets[label] += int(n or 0)
        price = prices.get(model_id)
        where = (names.get(profile_id, "?"), price.currency if price else "USD")
        per_profile[where][0] += int(stale or 0)
        if price is not None and price.annual is not None:
            per_profile[where][2] += Decimal(str(licensing.money(price.annual * int(stale or 0))))
    for row in rows:  # seats paid for, held by nobody: no profile's
        if row.rights_available > 0 and row.savings_unassigned is not None:
            unheld = per_profile[(None, row.currency)]
            unheld[1] += row.rights_available
            unheld[2] += Decimal(str(row.savings_unassigned))
    used = sum(r.rights_used for r in rows)
    stale_total = sum(r.stale for r in rows)
    open_candidates = session.scalar(
        select(func.count()).where(RemovalCandidate.state.in_(OPEN_STATES))
    )
    return Dashboard(
        at=now,
        subscriptions=used,
        stale=stale_total,
        stale_percent=round(100.0 * stale_total / used, 1) if used else 0.0,
        totals=[
            CurrencyTotals(
                currency=currency,
                spend=round(money["spend"], 2),
                potential_savings=round(money["potential_savings"], 2),
                cost_avoidance=round(money["cost_avoidance"], 2),
                cost_avoidance_ytd=round(money["cost_avoidance_ytd"], 2),
                potential_stale=round(money["potential_stale"], 2),
                potential_unassigned=round(money["potential_unassigned"], 2),
                realised_savings=round(money["realised_savings"], 2),
                realised_savings_ytd=round(money["realised_savings_ytd"], 2),
                true_up_cost=round(money["true_up_cost"], 2),
                over_licensed_amount=round(money["over_licensed_amount"], 2),
            )
            for currency, money in sorted(totals.items())
        ],
        models=[
            ModelSeats(
                software_model=r.software_model,
                currency=r.currency,
                owned=r.rights_owned,
                assigned=r.rights_used,
                stale=r.stale,
                status=r.status,
                potential_savings=r.potential_savings,
                savings_stale=r.savings_stale,
                savings_unassigned=r.savings_unassigned,
                unassigned=max(0, r.rights_available),
                spend=r.spend,
            )
            for r in rows
        ],
        profiles=sorted(
            (
                ProfileSavings(
                    profile=profile,
                    currency=currency,
                    stale=int(v[0]),
                    unassigned=int(v[1]),
                    potential_savings=float(v[2]),
                )
                for (profile, currency), v in per_profile.items()
            ),
            key=lambda p: (p.profile is None, p.currency, -p.potential_savings, p.profile or ""),
        ),
        activity_buckets=buckets,
        renewals=upcoming_renewals(session, now),
        open_candidates=open_candidates or 0,
        leavers_seats=_leavers_seats(session),
        trend=_trend(session, now),
    )


def _leavers_seats(session: Session) -> int:
    """Seats held by people the identity provider lists as gone (deprovisioned, suspended)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Subscription.__table__.join(Person.__table__))
            .where(S.active.is_(True), S.gone_at.is_(None), reports.person_left())
        )
        or 0
    )


def _trend(session: Session, now: datetime, points: int = TREND_POINTS) -> list[TrendPoint]:
    """Active vs stale seats at the last stored reconciliations (every currency together)."""
    return trend_points(reports.trends(session, now).rows)[-points:]


def trend_points(rows: Iterable[TrendRow]) -> list[TrendPoint]:
    """The trends report's rows as one point per stored reconciliation (seats of every
    currency together), oldest first."""
    by_run: dict[int, TrendPoint] = {}
    for row in rows:
        if row.row_type != "total":
            continue
        seen = by_run.get(row.run_id)
        by_run[row.run_id] = TrendPoint(
            as_of=row.as_of,
            assigned=row.assigned + (seen.assigned if seen else 0),
            active=row.active + (seen.active if seen else 0),
            stale=row.stale + (seen.stale if seen else 0),
        )
    return list(by_run.values())
