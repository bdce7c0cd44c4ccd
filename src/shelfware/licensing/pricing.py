"""What one seat of a software model costs per year."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.models import Entitlement, SoftwareModel

PERIODS_PER_YEAR = {"annual": Decimal(1), "monthly": Decimal(12)}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class SeatPrice:
    annual: Decimal | None  # None: no list price and no entitlement to average
    currency: str


def annualise(unit_cost: Decimal, billing_period: str) -> Decimal:
    try:
        return unit_cost * PERIODS_PER_YEAR[billing_period]
    except KeyError:
        raise ValueError(
            f"unknown billing period {billing_period!r}: use one of {sorted(PERIODS_PER_YEAR)}"
        ) from None


def seat_prices(session: Session, model_ids: list[int] | None = None) -> dict[int, SeatPrice]:
    """Annual seat price per model: the list price, else the seat-weighted average entitlement
    unit cost (annualised) over all its entitlements."""
    models = select(SoftwareModel)
    if model_ids is not None:
        models = models.where(SoftwareModel.id.in_(model_ids))
    prices: dict[int, SeatPrice] = {}
    by_model: dict[int, list[Entitlement]] = {}
    ents = select(Entitlement)
    if model_ids is not None:
        ents = ents.where(Entitlement.software_model_id.in_(model_ids))
    for ent in session.scalars(ents):
        by_model.setdefault(ent.software_model_id, []).append(ent)
    for model in session.scalars(models):
        entitlements = by_model.get(model.id, [])
        currency = entitlements[0].currency if entitlements else model.currency
        if model.list_price is not None:
            prices[model.id] = SeatPrice(Decimal(model.list_price), model.currency)
            continue
        seats = sum(e.seats for e in entitlements)
        if entitlements and seats > 0:
            total = sum(
                (annualise(Decimal(e.unit_cost), e.billing_period) * e.seats for e in entitlements),
                Decimal(0),
            )
            prices[model.id] = SeatPrice(total / seats, currency)
        elif entitlements:
            avg = sum(
                (annualise(Decimal(e.unit_cost), e.billing_period) for e in entitlements),
                Decimal(0),
            )
            prices[model.id] = SeatPrice(avg / len(entitlements), currency)
        else:
            prices[model.id] = SeatPrice(None, currency)
    return prices
