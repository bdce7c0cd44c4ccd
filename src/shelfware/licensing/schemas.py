"""Entitlement input and reconciliation output."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shelfware.ranges import Day, Name, Seats, UnitCost, View, printable


class EntitlementCreate(BaseModel):
    """Seats bought. Ranges: seats 0..10,000,000; unit cost 0..1,000,000 per seat per billing
    period with at most 4 decimals; dates 1970-01-01..2999-12-31; names 1..200 printable."""

    model_config = ConfigDict(extra="forbid")

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

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = printable(value).strip(" ").upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"currency must be a 3-letter ISO 4217 code, not {value!r}")
        return value

    @field_validator("billing_period")
    @classmethod
    def _period(cls, value: str) -> str:
        if value not in ("annual", "monthly"):
            raise ValueError("billing period must be 'annual' or 'monthly'")
        return value

    @model_validator(mode="after")
    def _term(self) -> EntitlementCreate:
        if self.term_start and self.term_end and self.term_end < self.term_start:
            raise ValueError("term end is before term start")
        return self


class EntitlementView(View):
    id: int
    software_model: str
    seats: int
    unit_cost: Decimal
    currency: str
    billing_period: str
    term_start: date | None
    term_end: date | None
    contract_ref: str | None


class ReconciliationRow(View):
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
    potential_savings: float | None
    realised_savings: float | None
