"""Entitlement input and reconciliation output."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shelfware.kit.addresses import EmailAddressError, parse_email
from shelfware.ranges import Day, Id, Name, Seats, UnitCost, View, currency_code

PERIODS = ("annual", "monthly")


class _Terms(BaseModel):
    """Checks shared by a new entitlement and an edit."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else currency_code(value)

    @field_validator("owner", check_fields=False)
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_email(value)
        except EmailAddressError as exc:
            raise ValueError(f"owner: not one valid email address ({exc})") from None

    @field_validator("billing_period", check_fields=False)
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None and value not in PERIODS:
            raise ValueError("billing period must be 'annual' or 'monthly'")
        return value


def check_term(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise ValueError(f"term end {end} is before term start {start}")


class EntitlementCreate(_Terms):
    """Seats bought. Ranges: seats 0..10,000,000; unit cost 0..1,000,000 per seat per billing
    period with at most 4 decimals; dates 1970-01-01..2999-12-31; names 1..200 printable."""

    model: Name = Field(
        description="'Publisher Product Edition', 'Publisher/Product/Edition' or id"
    )
    seats: Seats
    unit_cost: UnitCost
    currency: str = Field(default="USD", max_length=10)
    billing_period: str = Field(default="annual", max_length=20)
    term_start: Day | None = None
    term_end: Day | None = None
    renewal_date: Day | None = None
    notice_date: Day | None = None
    contract_ref: Name | None = None
    owner: str | None = Field(
        default=None, max_length=254, description="who gets the renewal alerts (an email)"
    )

    @model_validator(mode="after")
    def _term(self) -> EntitlementCreate:
        check_term(self.term_start, self.term_end)
        return self


class EntitlementUpdate(_Terms):
    """An edit: only the fields given change (the term is checked against the stored one)."""

    id: Id
    seats: Seats | None = None
    unit_cost: UnitCost | None = None
    currency: str | None = Field(default=None, max_length=10)
    billing_period: str | None = Field(default=None, max_length=20)
    term_start: Day | None = None
    term_end: Day | None = None
    renewal_date: Day | None = None
    notice_date: Day | None = None
    contract_ref: Name | None = None
    owner: str | None = Field(default=None, max_length=254)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id"}, exclude_none=True)


class EntitlementView(View):
    id: int
    software_model: str
    seats: int
    unit_cost: Decimal | None  # None: no price ("no price" in lists and reports)
    currency: str
    billing_period: str
    term_start: date | None
    term_end: date | None
    renewal_date: date | None = None
    notice_date: date | None = None
    contract_ref: str | None
    active: bool = True  # on the day the list was asked for
    # read from the vendor at each sync (seats owned): its seats and term follow the vendor
    vendor_managed: bool = False
    owner: str | None = None  # gets the renewal alerts


class ReconciliationRow(View):
    """A model's position (keys of ARCHITECTURE.md's ``reconcile --json``, plus more). Money is
    per year, in ``currency``; None when the model has no price."""

    software_model: str
    publisher: str
    product: str
    edition: str
    currency: str
    unit_cost: float | None
    rights_owned: int
    rights_used: int
    rights_used_people: int
    rights_available: int
    stale: int
    status: str
    true_up_cost: float | None
    over_licensed_amount: float | None
    potential_savings: float | None  # savings_stale + savings_unassigned
    realised_savings: float | None
    spend: float | None = None
    note: str | None = None
    software_model_id: int | None = None
    savings_stale: float | None = None  # stale seats (held, idle past the rule's threshold)
    savings_unassigned: float | None = None  # seats paid for that nobody holds


class ReconciliationRun(View):
    id: int
    as_of: datetime
    models: int
    seconds: float | None


class CalendarFeedView(View):
    """A renewals calendar feed (its token is shown once, when it is created)."""

    id: int
    name: str
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
