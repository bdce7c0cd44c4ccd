"""Reconciliation (the User Subscription metric of DOMAIN.md), on demand and stored.

All money is per year: entitlement unit costs are annualised by their billing period. Every
count comes from grouped queries (one over subscriptions, one over entitlements, one over
candidates); Python only does the arithmetic once per software model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock
from shelfware.kit.db import UTCDateTime
from shelfware.licensing.entitlements import (
    LicensingError,
    add_entitlement,
    edit_entitlement,
    end_entitlement,
    find_model,
    get_entitlement,
    import_entitlements,
    list_entitlements,
)
from shelfware.licensing.pricing import (
    CENT,
    ModelBook,
    SeatPrice,
    day_of,
    entitlement_books,
    price_of,
)
from shelfware.licensing.schemas import ReconciliationRow
from shelfware.licensing.schemas import ReconciliationRun as RunView
from shelfware.models import (
    CandidateState,
    ReclamationRule,
    ReconciliationPosition,
    ReconciliationRun,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles.service import DEFAULT_THRESHOLD_DAYS

__all__ = [
    "LicensingError",
    "add_entitlement",
    "day_of",
    "edit_entitlement",
    "end_entitlement",
    "find_model",
    "get_entitlement",
    "import_entitlements",
    "list_entitlements",
    "reconcile",
    "reconciliation_due",
    "reconciliation_runs",
    "record_reconciliation",
]

S = Subscription.__table__.c
R = ReclamationRule.__table__.c
C = RemovalCandidate.__table__.c
M = SoftwareModel.__table__.c


def holds_seat() -> ColumnElement[bool]:
    return and_(S.active.is_(True), S.gone_at.is_(None))


def stale_condition(session: Session, now: datetime) -> ColumnElement[bool]:
    """SQL (over subscription outer-joined to its model's rule): idle longer than the rule's
    threshold; never-used accounts count once past the grace period (or always, when the
    rule has no grace). One cutoff per distinct threshold, chosen by a CASE."""
    thresholds = set(session.scalars(select(R.threshold_days).distinct()))
    thresholds.add(DEFAULT_THRESHOLD_DAYS)

    def cutoff(days: int) -> Any:
        return literal(now - timedelta(days=days), UTCDateTime())

    cut = case(
        {days: cutoff(days) for days in sorted(thresholds)},
        value=func.coalesce(R.threshold_days, DEFAULT_THRESHOLD_DAYS),
        else_=cutoff(DEFAULT_THRESHOLD_DAYS),
    )
    since = func.coalesce(S.created_in_app_at, S.first_seen_at)
    return or_(
        and_(S.last_activity_at.is_not(None), S.last_activity_at < cut),
        and_(S.last_activity_at.is_(None), or_(R.new_account_grace.is_(False), since <= cut)),
    )


@dataclass(frozen=True)
class Usage:
    accounts: int
    people: int
    stale: int


def seat_usage(session: Session, now: datetime) -> dict[int, Usage]:
    """Per model: seat-holding accounts, people (accounts matched to nobody count once
    each), and stale accounts: one GROUP BY over subscriptions."""
    stale = stale_condition(session, now)
    # Models drive the loop: each model's rule is read once and its seats are one range of
    # the covering index ix_subscription_model_position (no table reads).
    query = (
        select(
            M.id,
            func.count(),
            func.count(func.distinct(S.person_id))
            + func.sum(case((S.person_id.is_(None), 1), else_=0)),
            func.sum(case((stale, 1), else_=0)),
        )
        .select_from(
            SoftwareModel.__table__.join(
                Subscription.__table__, and_(S.software_model_id == M.id, holds_seat())
            ).outerjoin(
                ReclamationRule.__table__, and_(R.software_model_id == M.id, R.kind == "remove")
            )
        )
        .group_by(M.id)
    )
    return {
        model_id: Usage(int(accounts), int(people or 0), int(stale_n or 0))
        for model_id, accounts, people, stale_n in session.execute(query)
    }


def _closed_complete(until: datetime, since: datetime | None) -> list[ColumnElement[bool]]:
    where = [
        C.state == CandidateState.CLOSED_COMPLETE.value,
        C.closed_at <= literal(until, UTCDateTime()),
    ]
    if since is not None:
        where.append(C.closed_at >= literal(since, UTCDateTime()))
    return where


def closed_complete_counts(
    session: Session, until: datetime, since: datetime | None = None
) -> dict[int, int]:
    """Reclaimed seats per model: ``closed_complete`` candidates closed in [since, until]."""
    query = (
        select(C.software_model_id, func.count())
        .where(*_closed_complete(until, since))
        .group_by(C.software_model_id)
    )
    return {model_id: int(n) for model_id, n in session.execute(query)}


def realised_savings(
    session: Session, prices: dict[int, SeatPrice], until: datetime, since: datetime | None = None
) -> dict[int, Decimal]:
    """Savings realised per model: the annual unit cost each ``closed_complete`` candidate
    recorded as freed when it closed; a candidate closed before candidates recorded it
    counts at the model's annual unit cost now."""
    query = (
        select(
            C.software_model_id,
            func.sum(C.realised_saving),
            func.count().filter(C.realised_saving.is_(None)),
        )
        .where(*_closed_complete(until, since))
        .group_by(C.software_model_id)
    )
    realised: dict[int, Decimal] = {}
    for model_id, recorded, unrecorded in session.execute(query):
        total = Decimal(recorded or 0)
        price = prices.get(model_id)
        if unrecorded and price is not None and price.annual is not None:
            total += price.annual * int(unrecorded)
        if recorded is not None or (unrecorded and price is not None and price.annual is not None):
            realised[model_id] = total
    return realised


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(CENT))


def _note(price: SeatPrice, book: ModelBook | None) -> str | None:
    notes = []
    if price.annual is None:
        if book is not None and book.by_currency:
            notes.append("no price: the entitlements have seats but no unit cost")
        else:
            notes.append("no list price and no entitlement: money unknown")
    others = sorted(c for c in (book.by_currency if book else {}) if c != price.currency)
    if others:
        notes.append(
            f"entitlements in {', '.join(others)} count as seats but not in {price.currency} money"
        )
    return "; ".join(notes) or None


def reconcile(session: Session, now: datetime) -> list[ReconciliationRow]:
    """The compliance position per software model at ``now``."""
    books = entitlement_books(session, day_of(now))
    usage = seat_usage(session, now)
    models = session.execute(
        select(M.id, M.publisher, M.product, M.edition, M.list_price, M.currency).order_by(
            M.publisher, M.product, M.edition
        )
    ).all()
    prices = {m.id: price_of((m.list_price, m.currency), books.get(m.id)) for m in models}
    realised = realised_savings(session, prices, now)
    rows = []
    for m in models:
        book = books.get(m.id)
        price = prices[m.id]
        unit = price.annual
        owned = book.owned if book else 0
        use = usage.get(m.id, Usage(0, 0, 0))
        available = owned - use.accounts

        def cost(n: int, unit: Decimal | None = unit) -> float | None:
            return None if unit is None else money(unit * n)

        spend = book.by_currency.get(price.currency) if book else None
        # potential savings in two parts: seats held but stale, seats paid for but held by
        # nobody; the second is the rest of the total (in cents), so the two always add up
        potential = cost(use.stale + max(0, available))
        stale_cost = cost(use.stale)
        idle_cost = _rest(potential, stale_cost)
        rows.append(
            ReconciliationRow(
                software_model=f"{m.publisher} {m.product} {m.edition}",
                publisher=m.publisher,
                product=m.product,
                edition=m.edition,
                currency=price.currency,
                unit_cost=money(unit),
                rights_owned=owned,
                rights_used=use.accounts,
                rights_used_people=use.people,
                rights_available=available,
                stale=use.stale,
                status="compliant" if use.accounts <= owned else "under_licensed",
                true_up_cost=cost(max(0, -available)),
                over_licensed_amount=cost(max(0, available)),
                potential_savings=potential,
                savings_stale=stale_cost,
                savings_unassigned=idle_cost,
                realised_savings=money(realised.get(m.id, Decimal(0))),
                spend=money(spend.active_spend if spend else Decimal(0)),
                note=_note(price, book),
                software_model_id=m.id,
            )
        )
    return rows


def _rest(total: float | None, part: float | None) -> float | None:
    if total is None or part is None:
        return None
    return money(Decimal(str(total)) - Decimal(str(part)))


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def record_reconciliation(
    session: Session, clock: Clock, now: datetime | None = None
) -> tuple[RunView, list[ReconciliationRow]]:
    """Reconcile at ``now`` (default: the clock) and keep the position with its date."""
    started = time.perf_counter()
    as_of = now or clock.now()
    rows = reconcile(session, as_of)
    run = ReconciliationRun(as_of=as_of, created_at=clock.now(), models=len(rows))
    session.add(run)
    session.flush()
    money_keys = (
        "unit_cost",
        "true_up_cost",
        "over_licensed_amount",
        "potential_savings",
        "realised_savings",
        "spend",
    )
    if rows:
        session.execute(
            insert(ReconciliationPosition),
            [
                {
                    "run_id": run.id,
                    **{k: _decimal(getattr(r, k)) for k in money_keys},
                    **r.model_dump(
                        include={
                            "software_model_id",
                            "software_model",
                            "currency",
                            "rights_owned",
                            "rights_used",
                            "rights_used_people",
                            "rights_available",
                            "stale",
                            "status",
                            "note",
                        }
                    ),
                }
                for r in rows
            ],
        )
    run.seconds = time.perf_counter() - started
    return _run_view(run), rows


def _run_view(run: ReconciliationRun) -> RunView:
    return RunView(id=run.id, as_of=run.as_of, models=run.models, seconds=run.seconds)


RECONCILE_EVERY = timedelta(days=7)  # DOMAIN.md: weekly by default


def reconciliation_due(session: Session, now: datetime, every: timedelta = RECONCILE_EVERY) -> bool:
    """For the schedule tick: no reconciliation is stored from the last ``every``."""
    latest = session.scalar(select(func.max(ReconciliationRun.as_of)))
    return latest is None or latest <= now - every


def reconciliation_runs(session: Session) -> list[RunView]:
    runs = session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.as_of))
    return [_run_view(run) for run in runs]
