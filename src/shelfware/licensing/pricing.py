"""What one seat of a software model costs per year, and what its entitlements add up to.

One grouped query over entitlements (by model, currency and whether the entitlement is active
on the day) feeds the seat price, the seats owned and the spend. A seat is priced by the
entitlements in term on the day (the seats owned now); only a model none of whose entitlements
is in term is priced by all of them, so an expired contract never drags the price of seats
owned now. Costs are summed as whole
ten-thousandths (the column's scale) so SQLite, which keeps NUMERIC as floating point, adds
exactly like PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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


def downgrade_saving(source: SeatPrice | None, target: SeatPrice | None) -> Decimal | None:
    """What moving one seat from the ``source`` edition to the ``target`` edition saves a
    year: the difference of their annual seat prices (entitlement unit costs, else list
    prices), never below zero; None when either price is unknown or they are in different
    currencies (never converted)."""
    if source is None or target is None or source.annual is None or target.annual is None:
        return None
    if source.currency != target.currency:
        return None
    return max(Decimal(source.annual) - Decimal(target.annual), Decimal(0))


def day_of(now: datetime) -> date:
    """The (UTC) day an instant falls on: the day entitlements are in term or not."""
    return now.astimezone(UTC).date()


def _average(seats: int, seat_cost: Decimal, unit_costs: Decimal, count: int) -> Decimal | None:
    """Seat-weighted average annual unit cost (plain average when no entitlement has a seat)."""
    if seats > 0:
        return seat_cost / seats
    if count > 0:
        return unit_costs / count
    return None


@dataclass
class CurrencyBook:
    """A model's entitlements in one currency: all of them and those active (in term) on the
    day (seats owned, spend, and the price). Costs are annual."""

    seats: int = 0
    priced_seats: int = 0  # seats of entitlements with a unit cost (vendor-managed may lack one)
    seat_cost: Decimal = Decimal(0)  # sum of seats x annual unit cost
    unit_costs: Decimal = Decimal(0)  # sum of annual unit costs
    count: int = 0  # entitlements with a unit cost
    active_seats: int = 0
    active_spend: Decimal = Decimal(0)  # sum of seats x annual unit cost, in term
    active_unit_costs: Decimal = Decimal(0)
    active_count: int = 0  # entitlements in term with a unit cost
    active_priced_seats: int = 0

    @property
    def average(self) -> Decimal | None:
        """The seat-weighted average annual unit cost of the priced entitlements in term on the
        day; of all of them when none is (entitlements without a price count as seats only)."""
        if self.active_count > 0:
            return _average(
                self.active_priced_seats,
                self.active_spend,
                self.active_unit_costs,
                self.active_count,
            )
        return _average(self.priced_seats, self.seat_cost, self.unit_costs, self.count)


@dataclass
class ModelBook:
    by_currency: dict[str, CurrencyBook] = field(default_factory=dict)

    @property
    def owned(self) -> int:
        return sum(book.active_seats for book in self.by_currency.values())

    def main_currency(self) -> str | None:
        """The currency holding most seats in term on the day (none in term: most seats of
        all; ties: alphabetical): its entitlements price the seat; amounts in other currencies
        are never added to it."""
        books = self.by_currency
        if not books:
            return None
        in_term = [c for c, book in books.items() if book.active_count > 0]
        if in_term:
            return min(in_term, key=lambda c: (-books[c].active_seats, c))
        return min(books, key=lambda c: (-books[c].seats, c))


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
            book.active_unit_costs += Decimal(int(unit_costs or 0)) / SCALE
            book.active_count += int(count)
            book.active_priced_seats += int(priced or 0)
    return dict(books)


def price_of(model: tuple[Decimal | None, str], book: ModelBook | None) -> SeatPrice:
    """The model's list price, else the average unit cost of its entitlements in term on the
    book's day (none in term: of all of them) in its main currency."""
    list_price, currency = model
    if list_price is not None:
        return SeatPrice(Decimal(list_price), currency)
    main = book.main_currency() if book else None
    if book is None or main is None:
        return SeatPrice(None, currency)
    return SeatPrice(book.by_currency[main].average, main)


def seat_prices(
    session: Session, model_ids: list[int] | None = None, *, on: date | None = None
) -> dict[int, SeatPrice]:
    """Annual seat price per model: the list price, else the seat-weighted average entitlement
    unit cost (annualised) of its entitlements in term on ``on`` in its main currency; of all
    its entitlements when none is in term (or no day is given). One grouped query."""
    books = entitlement_books(session, on, model_ids)
    M = SoftwareModel.__table__.c
    models = select(M.id, M.list_price, M.currency)
    if model_ids is not None:
        models = models.where(M.id.in_(model_ids))
    return {
        model_id: price_of((list_price, currency), books.get(model_id))
        for model_id, list_price, currency in session.execute(models)
    }
