"""Savings the way finance counts them: cost avoidance and realised savings, per period.

- **Freed**: seats reclaimed (``closed_complete`` candidates; a downgrade's candidate the
  same way), each at the annual saving it recorded when it closed (the model's annual price
  now for one closed before candidates recorded it), in the model's price currency.
- **Commitment reduction**: the fall of the annual committed spend of a model's entitlements
  in a period (the spend in term on the day before the period against its last day: a
  contract ended or renewed with fewer seats), plus the changes made in place (seats or
  price edited, the vendor's seat count moving: ``commitment_change``). Rises offset falls.
- **Realised savings**: the reduction attributed to freed seats that made it possible: seats
  freed in the same period or before and not yet attributed, oldest first, never more than
  their value. A reduction no freed seat explains is not a saving of ours.
- **Cost avoidance**: the value of seats freed in a period that no later reduction (up to
  the report's day) has turned into realised savings: the contract is unchanged, the money
  is not spent on new seats.

So for every model and currency, avoided + realised over all periods never exceed the freed
seats' value (seats freed x their price). One pass of grouped queries per period.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shelfware.licensing.pricing import SeatPrice, day_of, entitlement_books, seat_prices
from shelfware.models import CandidateState, CommitmentChange, RemovalCandidate

Granularity = Literal["month", "quarter", "year"]
GRANULARITIES: tuple[Granularity, ...] = ("month", "quarter", "year")
C = RemovalCandidate.__table__.c
CC = CommitmentChange.__table__.c
ZERO = Decimal(0)


@dataclass(frozen=True)
class Period:
    label: str  # 2026, 2026-Q4, 2026-11
    start: date
    end: date  # inclusive


def period_of(day: date, granularity: Granularity) -> Period:
    if granularity == "year":
        return Period(str(day.year), date(day.year, 1, 1), date(day.year, 12, 31))
    if granularity == "quarter":
        q = (day.month - 1) // 3
        start = date(day.year, 3 * q + 1, 1)
        label = f"{day.year}-Q{q + 1}"
    else:
        start = date(day.year, day.month, 1)
        label = f"{day.year}-{day.month:02d}"
    months = 3 if granularity == "quarter" else 1
    month = start.month - 1 + months
    following = date(start.year + month // 12, month % 12 + 1, 1)
    return Period(label, start, following - timedelta(days=1))


def periods_between(first: date, last: date, granularity: Granularity) -> list[Period]:
    out = []
    day = first
    while day <= last:
        period = period_of(day, granularity)
        out.append(period)
        day = period.end + timedelta(days=1)
    return out


@dataclass
class Figures:
    """One model in one currency in one period."""

    seats_freed: int = 0
    freed: Decimal = ZERO  # the freed seats' annual value
    avoided: Decimal = ZERO
    reduction: Decimal = ZERO  # fall of the annual committed spend
    realised: Decimal = ZERO

    @property
    def empty(self) -> bool:
        return not (self.seats_freed or self.freed or self.reduction or self.realised)


Key = tuple[int, str]  # model id, currency


@dataclass(frozen=True)
class SavingsBook:
    periods: list[Period]
    figures: dict[str, dict[Key, Figures]]  # period label -> (model, currency) -> figures
    prices: dict[int, SeatPrice]


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _freed(
    session: Session, prices: dict[int, SeatPrice], since: datetime, until: datetime
) -> dict[int, tuple[int, Decimal]]:
    """Seats freed per model in [since, until) and their annual value."""
    query = (
        select(
            C.software_model_id,
            func.count(),
            func.sum(C.realised_saving),
            func.count().filter(C.realised_saving.is_(None)),
        )
        .where(
            C.state == CandidateState.CLOSED_COMPLETE.value,
            C.closed_at >= since,
            C.closed_at < until,
        )
        .group_by(C.software_model_id)
    )
    freed = {}
    for model_id, seats, recorded, unrecorded in session.execute(query):
        value = Decimal(str(recorded or 0))
        price = prices.get(model_id)
        if unrecorded and price is not None and price.annual is not None:
            value += price.annual * int(unrecorded)
        freed[model_id] = (int(seats), value)
    return freed


def _committed(session: Session, day: date) -> dict[Key, Decimal]:
    """Annual committed spend per model and currency: the priced entitlements in term."""
    return {
        (model_id, currency): book.active_spend
        for model_id, model_book in entitlement_books(session, day).items()
        for currency, book in model_book.by_currency.items()
        if book.active_spend
    }


def _in_place(session: Session, start: date, last: date) -> dict[Key, Decimal]:
    """The in-place changes of committed spend effective from ``start`` to ``last``."""
    query = (
        select(CC.software_model_id, CC.currency, func.sum(CC.annual_delta))
        .where(CC.effective_on >= start, CC.effective_on <= last)
        .group_by(CC.software_model_id, CC.currency)
    )
    return {(m, c): Decimal(str(total or 0)) for m, c, total in session.execute(query)}


def _attribute(
    pool: deque[tuple[str, Decimal]],
    reduction: Decimal,
    key: Key,
    consumed: dict[tuple[str, Key], Decimal],
) -> Decimal:
    """Attribute ``reduction`` to the freed value of ``pool``, oldest first; returns how much
    of it is realised (never more than the pool holds)."""
    realised = ZERO
    while pool and reduction > 0:
        label, left = pool[0]
        taken = min(left, reduction)
        reduction -= taken
        realised += taken
        consumed[(label, key)] += taken
        if taken == left:
            pool.popleft()
        else:
            pool[0] = (label, left - taken)
    return realised


def first_freed_day(session: Session) -> date | None:
    first = session.scalar(
        select(func.min(C.closed_at)).where(C.state == CandidateState.CLOSED_COMPLETE.value)
    )
    return None if first is None else day_of(first)


def savings_book(session: Session, now: datetime, granularity: Granularity = "year") -> SavingsBook:
    """Every period from the first seat freed up to ``now`` (earlier reductions have no
    freed seat to be attributed to), with each model's figures."""
    today = day_of(now)
    prices = seat_prices(session, on=today)
    first = first_freed_day(session)
    if first is None or first > today:
        return SavingsBook([], {}, prices)
    periods = periods_between(first, today, granularity)
    figures: dict[str, dict[Key, Figures]] = {}
    # per (model, currency): [period label, value not yet attributed], oldest first
    pools: dict[Key, deque[tuple[str, Decimal]]] = defaultdict(deque)
    consumed: dict[tuple[str, Key], Decimal] = defaultdict(Decimal)
    before = _committed(session, periods[0].start - timedelta(days=1))
    for period in periods:
        last = min(period.end, today)
        # up to and including ``now`` in the last period
        until = (
            now + timedelta(microseconds=1) if last == today else _instant(last + timedelta(days=1))
        )
        here: dict[Key, Figures] = defaultdict(Figures)
        freed = _freed(session, prices, _instant(period.start), until)
        for model_id, (seats, value) in freed.items():
            key = (model_id, prices[model_id].currency)
            here[key].seats_freed += seats
            here[key].freed += value
            pools[key].append((period.label, value))
        after = _committed(session, last)
        moved = _in_place(session, period.start, last)
        for key in set(before) | set(after) | set(moved):
            change = after.get(key, ZERO) - before.get(key, ZERO) + moved.get(key, ZERO)
            if change >= 0:
                continue
            here[key].reduction += -change
            here[key].realised += _attribute(pools[key], -change, key, consumed)
        figures[period.label] = here
        before = after
    for label, rows in figures.items():
        for key, fig in rows.items():
            fig.avoided = fig.freed - consumed[(label, key)]
    return SavingsBook(
        periods,
        {label: {k: f for k, f in rows.items() if not f.empty} for label, rows in figures.items()},
        prices,
    )
