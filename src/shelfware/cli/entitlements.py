"""`shelfware entitlements add`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from shelfware.cli.context import clock, console, fail, store
from shelfware.licensing import service
from shelfware.licensing.schemas import EntitlementCreate

app = typer.Typer(help="Seats bought.", no_args_is_help=True)


@app.command("add")
def add(
    model: Annotated[str, typer.Option(help="software model: id or 'Publisher Product Edition'")],
    seats: Annotated[int, typer.Option(help="seats bought, 0..10,000,000")],
    unit_cost: Annotated[
        str, typer.Option(help="cost per seat per billing period, 0..1,000,000, 4 decimals")
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "USD",
    billing_period: Annotated[str, typer.Option(help="annual | monthly")] = "annual",
    start: Annotated[str | None, typer.Option(help="term start YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="term end YYYY-MM-DD")] = None,
    renewal: Annotated[str | None, typer.Option(help="renewal date")] = None,
    notice: Annotated[str | None, typer.Option(help="notice date")] = None,
    contract: Annotated[str | None, typer.Option(help="contract reference")] = None,
) -> None:
    """Record seats bought for a software model."""
    data = EntitlementCreate(
        model=model,
        seats=seats,
        unit_cost=unit_cost,  # type: ignore[arg-type]  # pydantic parses and range-checks it
        currency=currency,
        billing_period=billing_period,
        term_start=_date(start, "--start"),
        term_end=_date(end, "--end"),
        renewal_date=_date(renewal, "--renewal"),
        notice_date=_date(notice, "--notice"),
        contract_ref=contract,
    )
    with store() as st, st.db.transaction() as session:
        ent = service.add_entitlement(session, clock(), data)
    console.print(
        f"Entitlement {ent.id}: {ent.seats} seats at {ent.unit_cost} "
        f"{ent.currency}/{ent.billing_period}. Next: [cyan]shelfware reconcile[/]"
    )


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} {text!r} is not a date (YYYY-MM-DD)")
