"""`shelfware entitlements add|edit|end|list|import`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, fail, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.licensing import service
from shelfware.licensing.schemas import EntitlementCreate, EntitlementUpdate, EntitlementView
from shelfware.ranges import MAX_DATE, MAX_ID, MIN_DATE

app = typer.Typer(help="Seats bought.", no_args_is_help=True)

Seats = Annotated[int | None, typer.Option(help="seats bought, 0..10,000,000")]
UnitCost = Annotated[
    str | None, typer.Option(help="cost per seat per billing period, 0..1,000,000, 4 decimals")
]
Currency = Annotated[str | None, typer.Option(help="ISO 4217 code")]
Period = Annotated[str | None, typer.Option(help="annual | monthly")]
Start = Annotated[str | None, typer.Option(help="term start YYYY-MM-DD")]
End = Annotated[str | None, typer.Option(help="term end YYYY-MM-DD (last day it counts)")]
Renewal = Annotated[str | None, typer.Option(help="renewal date")]
Notice = Annotated[str | None, typer.Option(help="notice date")]
Contract = Annotated[str | None, typer.Option(help="contract reference")]
Owner = Annotated[
    str | None, typer.Option(help="the contract owner's email: gets the renewal alerts")
]
EntitlementId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="entitlement id")]


def _fields(
    seats: int | None,
    unit_cost: str | None,
    currency: str | None,
    billing_period: str | None,
    contract: str | None,
    start: str | None,
    end: str | None,
    renewal: str | None,
    notice: str | None,
    owner: str | None = None,
) -> dict[str, Any]:
    """The options shared by add and edit, as schema fields (dates checked here)."""
    return {
        "seats": seats,
        "unit_cost": unit_cost,
        "currency": currency,
        "billing_period": billing_period,
        "contract_ref": contract,
        "term_start": _date(start, "--start"),
        "term_end": _date(end, "--end"),
        "renewal_date": _date(renewal, "--renewal"),
        "notice_date": _date(notice, "--notice"),
        "owner": owner,
    }


@app.command("add")
def add(
    model: Annotated[str, typer.Option(help="software model: id or 'Publisher Product Edition'")],
    seats: Annotated[int, typer.Option(help="seats bought, 0..10,000,000")],
    unit_cost: Annotated[
        str, typer.Option(help="cost per seat per billing period, 0..1,000,000, 4 decimals")
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "USD",
    billing_period: Annotated[str, typer.Option(help="annual | monthly")] = "annual",
    start: Start = None,
    end: End = None,
    renewal: Renewal = None,
    notice: Notice = None,
    contract: Contract = None,
    owner: Owner = None,
) -> None:
    """Record seats bought for a software model."""
    fields = _fields(
        seats, unit_cost, currency, billing_period, contract, start, end, renewal, notice, owner
    )
    data = EntitlementCreate.model_validate({"model": model, **fields})
    with store() as st, st.db.transaction() as session:
        ent = service.add_entitlement(session, clock(), data)
    console.print(
        f"Entitlement {ent.id}: {ent.seats} seats at {ent.unit_cost} "
        f"{ent.currency}/{ent.billing_period}. Next: [cyan]shelfware reconcile[/]"
    )


@app.command("edit")
def edit(
    entitlement: EntitlementId,
    seats: Seats = None,
    unit_cost: UnitCost = None,
    currency: Currency = None,
    billing_period: Period = None,
    start: Start = None,
    end: End = None,
    renewal: Renewal = None,
    notice: Notice = None,
    contract: Contract = None,
    owner: Owner = None,
) -> None:
    """Change an entitlement: only the options given change."""
    fields = _fields(
        seats, unit_cost, currency, billing_period, contract, start, end, renewal, notice, owner
    )
    data = EntitlementUpdate.model_validate({"id": entitlement, **fields})
    with store() as st, st.db.transaction() as session:
        ent = service.edit_entitlement(session, clock(), data)
    console.print(f"Entitlement {ent.id} changed: {_summary(ent)}")


@app.command("end")
def end(
    entitlement: EntitlementId,
    on: Annotated[str | None, typer.Option(help="last day it counts (default: today)")] = None,
) -> None:
    """End an entitlement's term (it stops counting after that day)."""
    clk = clock()
    day = _date(on, "--on") or clk.now().date()
    with store() as st, st.db.transaction() as session:
        ent = service.end_entitlement(session, clk, entitlement, day)
    console.print(f"Entitlement {ent.id} ends on {day}: {_summary(ent)}")


@app.command("list")
def list_(
    model: Annotated[str | None, typer.Option(help="only this software model")] = None,
    active: Annotated[bool, typer.Option("--active", help="only those active today")] = False,
    json_: JsonFlag = False,
) -> None:
    """Entitlements, with whether each is active today."""
    today = clock().now().date()
    with store() as st, st.db.sessions() as session:
        rows = service.list_entitlements(session, today, model, active)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    output.table(
        "Entitlements",
        [
            ("Id", "right"),
            "Software model",
            ("Seats", "right"),
            ("Unit cost", "right"),
            "Period",
            "Term",
            "Renewal",
            "Notice",
            "Contract",
            "Owner",
            "Active",
        ],
        [
            (
                r.id,
                r.software_model,
                r.seats,
                f"{r.unit_cost} {r.currency}" if r.unit_cost is not None else "no price",
                r.billing_period,
                f"{r.term_start or '…'} to {r.term_end or '…'}",
                r.renewal_date,
                r.notice_date,
                r.contract_ref,
                r.owner,
                r.active,
            )
            for r in rows
        ],
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV: model, seats, unit cost, ... (any order)")],
    json_: JsonFlag = False,
) -> None:
    """Add every row of a CSV file; one bad row refuses the whole file (nothing is added).

    Columns: model, seats, unit_cost (required); currency, billing_period, term_start,
    term_end, renewal_date, notice_date, contract_ref, owner (an email: the renewal alerts)."""
    data = file.read_bytes()
    with store() as st, st.db.transaction() as session:
        rows = service.import_entitlements(session, clock(), data, what=file.name)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    console.print(f"Imported {len(rows)} entitlements. Next: [cyan]shelfware reconcile[/]")


def _summary(ent: EntitlementView) -> str:
    term = f"{ent.term_start or '…'} to {ent.term_end or '…'}"
    return f"{ent.seats} seats at {ent.unit_cost} {ent.currency}/{ent.billing_period}, {term}"


def parse_day(text: str, flag: str) -> date:
    """A YYYY-MM-DD option in the documented date range, or one error line."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} {text!r} is not a date (YYYY-MM-DD)")
    if not MIN_DATE <= day <= MAX_DATE:
        fail(f"{flag} {text!r} is outside {MIN_DATE}..{MAX_DATE}")
    return day


def _date(text: str | None, flag: str) -> date | None:
    return None if text is None else parse_day(text, flag)
