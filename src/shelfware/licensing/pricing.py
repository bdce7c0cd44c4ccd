"""What one seat of a software model costs per year, and what its entitlements add up to.

One grouped query over entitlements (by model, currency and whether the entitlement is active
on the day) feeds the seat price, the seats owned and the spend. Costs are summed as whole
ten-thousandths (the column's scale) so SQLite, which keeps NUMERIC as floating point, adds
exactly like PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, func, literal, or_, select, true
from sqlalchemy.orm import Session

from shelfware.models import Entitlement, SoftwareModel

PERIODS_PER_YEAR = {"annual": Decimal(1), "monthly": Decimal(12)}
CENT = Decimal("0.01")
SCALE = Decimal(10_000)  # unit costs have 4 decimals
E = Entitlement.__table__.c


@dataclass(frozen=True)
class SeatPrice:
    annual: Decimal | None  # None: no list price and no entitlement to average
    currency: str


@dataclass
class CurrencyBook:
    """A model's entitlements in one currency: all of them (for the average price) and those
    active on the day (seats owned, spend). Costs are annual."""

    seats: int = 0
    priced_seats: int = 0  # seats of entitlements with a unit cost (vendor-managed may lack one)
    seat_cost: Decimal = Decimal(0)  # sum of seats x annual unit cost
    unit_costs: Decimal = Decimal(0)  # sum of annual unit costs
    count: int = 0  # entitlements with a unit cost
    active_seats: int = 0
    active_spend: Decimal = Decimal(0)

    @property
    def average(self) -> Decimal | None:
        """Seat-weighted average annual unit cost (plain average when no entitlement has a
        seat)."""
        if self.priced_seats > 0:
            return self.seat_cost / self.priced_seats
        if self.count > 0:
            return self.unit_costs / self.count
        return None


@dataclass
class ModelBook:
    by_currency: dict[str, CurrencyBook] = field(default_factory=dict)

    @property
    def owned(self) -> int:
        return sum(book.active_seats for book in self.by_currency.values())

    def main_currency(self) -> str | None:
        """The currency holding most seats (ties: alphabetical): its entitlements price the
        seat; amounts in other currencies are never added to it."""
        if not self.by_currency:
            return None
        return min(self.by_currency, key=lambda c: (-self.by_currency[c].seats, c))


def annualise(unit_cost: Decimal, billing_period: str) -> Decimal:
    try:
        return unit_cost * PERIODS_PER_YEAR[billing_period]
    except KeyError:
        raise ValueError(
            f"unknown billing period {billing_period!r}: use one of {sorted(PERIODS_PER_YEAR)}"
        ) from None


def active_on(day: date) -> ColumnElement[bool]:
    """SQL: the entitlement's term covers ``day`` (an open end covers every day)."""
    return and_(
        or_(E.term_start.is_(None), E.term_start <= day),
        or_(E.term_end.is_(None), E.term_end >= day),
    )


def entitlement_books(
    session: Session, day: date | None, model_ids: list[int] | None = None
) -> dict[int, ModelBook]:
    """Per model and currency: seats, costs, and what is active on ``day`` (nothing is
    active when ``day`` is None)."""
    periods = case(
        *((E.billing_period == name, int(n)) for name, n in PERIODS_PER_YEAR.items()), else_=1
    )
    unit = periods * cast(func.round(E.unit_cost * int(SCALE)), BigInteger)
    is_active = case((active_on(day), 1), else_=0) if day is not None else literal(0)
    query = (
        select(
            E.software_model_id,
            E.currency,
            is_active.label("is_active"),
            func.sum(E.seats),
            func.sum(unit * E.seats),
            func.sum(unit),
            func.count(E.unit_cost),  # entitlements without a price count as seats only
            func.sum(case((E.unit_cost.is_not(None), E.seats), else_=0)),
        )
        .where(E.software_model_id.in_(model_ids) if model_ids is not None else true())
        .group_by(E.software_model_id, E.currency, is_active)
    )
    books: dict[int, ModelBook] = defaultdict(ModelBook)
    for model_id, currency, active, seats, seat_cost, unit_costs, count, priced in session.execute(
        query
    ):
        book = books[model_id].by_currency.setdefault(currency, CurrencyBook())
        seats = int(seats or 0)
        seat_cost = Decimal(int(seat_cost or 0)) / SCALE
        book.seats += seats
        book.priced_seats += int(priced or 0)
        book.seat_cost += seat_cost
        book.unit_costs += Decimal(int(unit_costs or 0)) / SCALE
        book.count += int(count)
        if active:
            book.active_seats += seats
            book.active_spend += seat_cost
    return dict(books)


def price_of(model: tuple[Decimal | None, str], book: ModelBook | None) -> SeatPrice:
    """The model's list price, else the average entitlement unit cost in its main currency."""
    list_price, currency = model
    if list_price is not None:
        return SeatPrice(Decimal(list_price), currency)
    main = book.main_currency() if book else None
    if book is None or main is None:
        return SeatPrice(None, currency)
    return SeatPrice(book.by_currency[main].average, main)


def seat_prices(session: Session, model_ids: list[int] | None = None) -> dict[int, SeatPrice]:
    """Annual seat price per model: the list price, else the seat-weighted average entitlement
    unit cost (annualised) over all its entitlements in its main currency."""
    books = entitlement_books(session, None, model_ids)
    M = SoftwareModel.__table__.c
    models = select(M.id, M.list_price, M.currency)
    if model_ids is not None:
        models = models.where(M.id.in_(model_ids))
    return {
        model_id: price_of((list_price, currency), books.get(model_id))
        for model_id, list_price, currency in session.execute(models)
    }
