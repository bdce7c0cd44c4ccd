"""Totals per currency, and across currencies only at stated rates."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from shelfware.licensing.pricing import CENT
from shelfware.reports.schemas import Rates, ReportRow

NO_RATES_NOTE = "totals are per currency; give --rate CODE=RATE (and --base) to add them up"


def _sum(values: list[Any]) -> Decimal | None:
    present = [Decimal(str(v)) for v in values if v is not None]
    return sum(present, Decimal(0)) if present else None


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(CENT))


def currency_totals(
    rows: Sequence[ReportRow],
    counts: Sequence[str],
    money: Sequence[str],
    rates: Rates | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One total per currency (``row_type`` "total") and, with ``rates``, one in the base
    currency ("converted_total"); money never adds across currencies otherwise. Returns the
    totals and notes for the reader."""
    by_currency: dict[str, list[ReportRow]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], []).append(row)
    totals: list[dict[str, Any]] = []
    sums: dict[str, dict[str, Decimal | None]] = {}
    for currency in sorted(by_currency):
        group = by_currency[currency]
        sums[currency] = {key: _sum([r[key] for r in group]) for key in money}
        totals.append(
            {
                "row_type": "total",
                "currency": currency,
                **{key: sum(r[key] for r in group) for key in counts},
                **{key: _float(value) for key, value in sums[currency].items()},
            }
        )
    notes: list[str] = []
    if rates is None:
        if len(by_currency) > 1:
            notes.append(NO_RATES_NOTE)
        return totals, notes
    missing = sorted(c for c in by_currency if rates.of(c) is None)
    if missing:
        raise ValueError(
            f"no --rate for {', '.join(missing)}: say what one unit is worth in {rates.base} "
            f"(e.g. --rate {missing[0]}=1.08)"
        )
    converted: dict[str, Any] = {
        "row_type": "converted_total",
        "currency": rates.base,
        **{key: sum(r[key] for r in rows) for key in counts},
    }
    for key in money:
        parts = [
            value * (rates.of(currency) or Decimal(0))
            for currency, values in sums.items()
            if (value := values[key]) is not None
        ]
        converted[key] = _float(sum(parts, Decimal(0))) if parts else None
    used = ", ".join(f"1 {c} = {rates.of(c)} {rates.base}" for c in sorted(by_currency))
    notes.append(f"converted total at the stated rates: {used}")
    return [*totals, converted], notes
