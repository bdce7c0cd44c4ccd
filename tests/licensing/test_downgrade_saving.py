"""The saving of a downgrade: the annual price difference of the two editions
(licensing/pricing.downgrade_saving), from entitlement unit costs (annualised) or list prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from shelfware.licensing.pricing import SeatPrice, downgrade_saving, seat_prices
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import SoftwareModel
from shelfware.profiles import service as profiles
from shelfware.reclamation.downgrade import saving_of


def usd(value: str | None) -> SeatPrice:
    return SeatPrice(None if value is None else Decimal(value), "USD")


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (usd("600"), usd("240"), Decimal("360")),
        (usd("240"), usd("240"), Decimal("0")),
        (usd("100"), usd("240"), Decimal("0")),  # never a negative saving
        (usd(None), usd("240"), None),
        (usd("600"), usd(None), None),
        (usd("600"), SeatPrice(Decimal("100"), "EUR"), None),  # never converted
        (None, usd("1"), None),
    ],
)
def test_the_saving_is_the_price_difference(
    source: SeatPrice | None, target: SeatPrice | None, expected: Decimal | None
) -> None:
    assert downgrade_saving(source, target) == expected


def test_a_removal_saves_the_whole_seat_and_a_downgrade_the_difference() -> None:
    prices = {1: usd("600"), 2: usd("240")}
    assert saving_of("remove", 1, None, prices) == Decimal("600")
    assert saving_of("downgrade", 1, 2, prices) == Decimal("360")
    assert saving_of("downgrade", 1, 3, prices) is None  # the target has no price


@pytest.mark.store
def test_entitlements_are_annualised_and_list_prices_win(db, clock) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        pro = profiles.ensure_software_model(s, clock, "Zoom", "Zoom", "Pro")
        basic = profiles.ensure_software_model(s, clock, "Zoom", "Zoom", "Basic")
        # Pro: 10 seats at 15/month and 30 at 18/month -> seat-weighted 17.25/month = 207/year
        for seats, cost in ((10, "15"), (30, "18")):
            add_entitlement(
                s,
                clock,
                EntitlementCreate(
                    model="Zoom Zoom Pro", seats=seats, unit_cost=cost, billing_period="monthly"
                ),
            )
        add_entitlement(
            s, clock, EntitlementCreate(model="Zoom Zoom Basic", seats=5, unit_cost="60")
        )
        prices = seat_prices(s, [pro.id, basic.id])
        assert downgrade_saving(prices[pro.id], prices[basic.id]) == Decimal("147")
        # a list price is the model's price whatever its entitlements
        s.scalars(
            select(SoftwareModel).where(SoftwareModel.id == basic.id)
        ).one().list_price = Decimal("100")
        s.flush()
        prices = seat_prices(s, [pro.id, basic.id])
        assert downgrade_saving(prices[pro.id], prices[basic.id]) == Decimal("107")
