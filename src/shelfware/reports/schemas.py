"""One row schema per report. Its fields, in order, are the columns of the table, the keys of
the JSON objects and the header of the CSV, so the three formats always agree; each field's
``kind`` says how a cell is shown."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shelfware.ranges import View, currency_code

Kind = Literal["text", "int", "money", "percent", "date", "instant"]


def col(title: str, kind: Kind = "text") -> Any:
    """A report column: its heading and how its cells are shown."""
    return Field(title=title, json_schema_extra={"kind": kind})


class ReportRow(View):
    @classmethod
    def columns(cls) -> list[tuple[str, str, Kind]]:
        """(key, heading, kind) for every column, in order."""
        out = []
        for key, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            kind: Kind = extra.get("kind", "text")  # type: ignore[assignment]
            out.append((key, info.title or key, kind))
        return out


RowT = TypeVar("RowT", bound=ReportRow)


class Report(BaseModel, Generic[RowT]):
    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    as_of: datetime
    rows: list[RowT]
    notes: list[str] = []


class Rates(BaseModel):
    """Stated exchange rates for totals across currencies: 1 unit of each currency is worth
    ``rates[currency]`` of ``base``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = "USD"
    rates: dict[str, Decimal] = {}

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        return currency_code(value)

    @classmethod
    def parse(cls, specs: list[str], base: str = "USD") -> Rates:
        """``["EUR=1.08", ...]``: one line naming the bad spec otherwise."""
        rates: dict[str, Decimal] = {}
        for spec in specs:
            code, sep, number = spec.partition("=")
            try:
                if not sep:
                    raise ValueError("expected CODE=RATE")
                rate = Decimal(number.strip())
                if not rate.is_finite() or not 0 < rate <= 1_000_000:
                    raise ValueError("the rate must be a number above 0 and at most 1,000,000")
                rates[currency_code(code)] = rate
            except (ValueError, ArithmeticError) as exc:
                detail = str(exc) if isinstance(exc, ValueError) else "not a number"
                raise ValueError(f"--rate {spec!r}: {detail} (e.g. EUR=1.08)") from None
        return cls(base=base, rates=rates)

    def of(self, currency: str) -> Decimal | None:
        return Decimal(1) if currency == self.base else self.rates.get(currency)


RowType = Literal["model", "total", "converted_total"]
ROW_TYPE_HELP = "model: one software model; total: per currency; converted_total: at --rate"


class ComplianceRow(ReportRow):
    row_type: RowType = col("Row")
    software_model: str = col("Software model")
    currency: str = col("Currency")
    unit_cost: float | None = col("Unit cost/yr", "money")
    rights_owned: int = col("Owned", "int")
    rights_used: int = col("Used (accounts)", "int")
    rights_used_people: int = col("Used (people)", "int")
    rights_available: int = col("Available", "int")
    stale: int = col("Stale", "int")
    status: str | None = col("Status")
    true_up_cost: float | None = col("True-up", "money")
    over_licensed_amount: float | None = col("Over-licensed", "money")
    # potential savings in two parts that add up to it: stale seats, unassigned seats
    savings_stale: float | None = col("Stale seats/yr", "money")
    savings_unassigned: float | None = col("Unassigned seats/yr", "money")
    potential_savings: float | None = col("Potential savings/yr", "money")
    realised_savings: float | None = col("Realised savings", "money")
    spend: float | None = col("Spend/yr", "money")


class UsageRow(ReportRow):
    row_type: Literal["model", "total"] = col("Row")
    software_model: str = col("Software model")
    seats: int = col("Seats", "int")
    days_0_30: int = col("0-30 days", "int")
    days_30_60: int = col("30-60 days", "int")
    days_60_90: int = col("60-90 days", "int")
    days_90_plus: int = col("90+ days", "int")
    never: int = col("Never", "int")


class SavingsRow(ReportRow):
    """Per period, model and currency (see ``licensing.savings``): seats freed and their
    value, what of it is cost avoidance (the contract unchanged) and what realised savings
    (the committed spend lowered, attributed to those seats)."""

    row_type: RowType = col("Row")
    period: str = col("Period")
    period_start: date = col("From", "date")
    period_end: date = col("To", "date")
    software_model: str = col("Software model")
    currency: str = col("Currency")
    seats_freed: int = col("Seats freed", "int")
    freed_value: float | None = col("Freed/yr", "money")
    cost_avoidance: float | None = col("Cost avoidance/yr", "money")
    commitment_reduction: float | None = col("Commitment reduced/yr", "money")
    realised_savings: float | None = col("Realised savings/yr", "money")


class RenewalRow(ReportRow):
    entitlement_id: int = col("Entitlement", "int")
    software_model: str = col("Software model")
    contract_ref: str | None = col("Contract")
    owner: str | None = col("Owner")
    renewal_date: date = col("Renewal", "date")
    notice_date: date | None = col("Notice by", "date")
    days_to_notice: int | None = col("Days to notice", "int")
    seats: int = col("Seats", "int")
    currency: str = col("Currency")
    annual_cost: float | None = col("Cost/yr", "money")
    model_owned: int = col("Model owned", "int")
    model_used: int = col("Model used", "int")
    model_stale: int = col("Model stale", "int")
    utilisation_percent: float | None = col("Utilisation %", "percent")
    recommended_seats: int = col("Recommended", "int")
    right_size_seats: int = col("Renew seats", "int")
    renewal_saving: float | None = col("Saving at renewal/yr", "money")


class PeopleRow(ReportRow):
    kind: Literal["seat", "leaver", "unmatched"] = col("Kind")
    person: str | None = col("Person")
    profile: str = col("Profile")
    software_model: str = col("Software model")
    username: str | None = col("Account")
    account_email: str | None = col("Account email")
    last_activity_at: datetime | None = col("Last activity", "instant")
    idle_days: int | None = col("Idle days", "int")
    # its user or an approver chose to keep the seat: no removal candidate before this
    kept_until: datetime | None = col("Kept until", "instant")


class TrendRow(ReportRow):
    row_type: Literal["total", "converted_total"] = col("Row")
    as_of: datetime = col("As of", "instant")
    run_id: int = col("Run", "int")
    currency: str = col("Currency")
    models: int = col("Models", "int")
    assigned: int = col("Assigned", "int")
    active: int = col("Active", "int")
    stale: int = col("Stale", "int")
    stale_percent: float | None = col("Stale %", "percent")
    spend: float | None = col("Spend/yr", "money")
    potential_savings: float | None = col("Potential savings/yr", "money")


ChargebackBy = Literal["department", "cost_center"]
# A group's kind: named (a department or cost centre), unknown (seats held by people with
# none, or by accounts matching no person), unassigned (seats paid for that nobody holds)
GroupKind = Literal["named", "unknown", "unassigned"]


class ChargebackRow(ReportRow):
    row_type: Literal["model", "group", "total"] = col("Row")
    group: str = col("Group")
    group_kind: GroupKind | None = col("Kind")
    software_model: str = col("Software model")
    currency: str = col("Currency")
    seats: int = col("Seats", "int")
    seat_cost: float | None = col("Per seat/yr", "money")
    annual_cost: float | None = col("Cost/yr", "money")
