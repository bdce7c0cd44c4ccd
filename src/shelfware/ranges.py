"""The documented range of every value a person or a script gives shelfware.

Checked where the value enters (the pydantic input schemas shared by the CLI and the API), so
nothing out of range is ever stored. The table in README.md ("Input ranges") lists them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any

from babel.numbers import list_currencies
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_ID = 2**63 - 1  # a BIGINT primary key
MAX_THRESHOLD_DAYS = 3650  # ten years
MAX_SEATS = 10_000_000
MAX_UNIT_COST = Decimal(1_000_000)  # per seat per billing period
COST_DECIMALS = 4  # Numeric(14, 4)
MAX_NAME = 200
MAX_TEXT = 2000
MAX_LIST = 10_000
MAX_ROWS = 1_000_000
MAX_ANALYZE_DAYS_BEFORE = 60  # "analyze user activity from": up to 60 days before creation
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2999, 12, 31)


def printable(value: str) -> str:
    """No control characters (newlines, tabs, escapes, NUL): they corrupt logs and tables."""
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


def without_nul(value: str) -> str:
    """No NUL character (passwords: any other character is the person's choice). NUL ends a
    C string: PostgreSQL refuses it, and a library that hashes C strings would cut there."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _not_bool(value: Any) -> Any:
    """A number is a number: JSON's ``true`` is not 1 (pydantic's lax mode would take it)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


@cache
def _iso_4217() -> frozenset[str]:
    # Babel's copy of the CLDR currency list (ISO 4217, with historic codes), less the codes
    # that are not money: XXX (no currency) and XTS (testing).
    return frozenset(list_currencies()) - {"XXX", "XTS"}


def currency_code(value: str) -> str:
    """An ISO 4217 currency code (any case on input, upper case stored)."""
    value = printable(value).strip(" ").upper()
    if len(value) != 3 or not value.isascii() or value not in _iso_4217():
        raise ValueError(f"currency must be a 3-letter ISO 4217 code such as USD, not {value!r}")
    return value


def _in_dates(value: date) -> date:
    """In 1970..2999, also once an instant's offset is applied (``2999-12-31T23:00-05:00``
    is in the year 3000 in UTC; ``0001-01-01T00:00+01:00`` has no UTC at all)."""
    days = [value.date() if isinstance(value, datetime) else value]
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            days.append(value.astimezone(UTC).date())
        except OverflowError:
            days.append(date.min)
    if not all(MIN_DATE <= day <= MAX_DATE for day in days):
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return value


def analyze_from_in_range(value: datetime, created: datetime, now: datetime) -> datetime:
    """ "Analyze user activity from": never in the future, and at most 60 days before the
    profile was created (the vendor's rule). A time without a zone is UTC."""
    when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    earliest = created - timedelta(days=MAX_ANALYZE_DAYS_BEFORE)
    if when > now:
        raise ValueError(f"analyze activity from {when:%Y-%m-%d %H:%M} is in the future")
    if when < earliest:
        raise ValueError(
            f"analyze activity from {when:%Y-%m-%d} is more than {MAX_ANALYZE_DAYS_BEFORE} days "
            f"before the profile was created: the earliest is {earliest:%Y-%m-%d %H:%M} UTC"
        )
    return when


NotBool = BeforeValidator(_not_bool)
Id = Annotated[int, NotBool, Field(ge=1, le=MAX_ID, description="a record id, 1..2^63-1")]
Name = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME, description="1..200 printable characters"),
    AfterValidator(printable),
]
Text = Annotated[
    str,
    Field(max_length=MAX_TEXT, description="up to 2000 printable characters"),
    AfterValidator(printable),
]
ThresholdDays = Annotated[
    int, NotBool, Field(ge=1, le=MAX_THRESHOLD_DAYS, description="1..3650 days")
]
Days = Annotated[int, NotBool, Field(ge=0, le=MAX_THRESHOLD_DAYS, description="0..3650 days")]
Seats = Annotated[int, NotBool, Field(ge=0, le=MAX_SEATS, description="0..10,000,000 seats")]


def _plain_number(value: Any) -> Any:
    """Text is a number only without control characters (Decimal would drop some silently);
    ``true`` is not a number."""
    if isinstance(value, str):
        printable(value)
    return _not_bool(value)


def _positive_zero(value: Decimal) -> Decimal:
    """``-0`` is stored (and shown) as 0."""
    return value.copy_abs() if value.is_zero() else value


UnitCost = Annotated[
    Decimal,
    BeforeValidator(_plain_number),
    Field(
        ge=0,
        le=MAX_UNIT_COST,
        decimal_places=COST_DECIMALS,
        allow_inf_nan=False,
        description="0..1,000,000 with at most 4 decimals",
    ),
    AfterValidator(_positive_zero),
]
Port = Annotated[int, NotBool, Field(ge=1, le=65535, description="a TCP port, 1..65535")]
RowLimit = Annotated[int, NotBool, Field(ge=1, le=MAX_ROWS, description="1..1,000,000 rows")]
Day = Annotated[date, AfterValidator(_in_dates)]
Instant = Annotated[datetime, AfterValidator(_in_dates)]


class View(BaseModel):
    """A result shape. Item access (``row["id"]``) is kept for callers written against dicts."""

    model_config = ConfigDict(frozen=True)

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None
