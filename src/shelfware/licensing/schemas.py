"""Entitlement input and reconciliation output."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field, field_validator, model_validator


class EntitlementCreate(BaseModel):
    model: str = Field(description="'Publisher Product Edition', 'Publisher/Product/Edition' or id")
    seats: int = Field(ge=0)
    unit_cost: Decimal = Field(ge=0)
    currency: str = "USD"
    billing_period: str = "annual"
    term_start: date | None = None
    term_end: date | None = None
    renewal_date: date | None = None
    notice_date: date | None = None
    contract_ref: str | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
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


class ReconciliationRow(BaseModel):
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
