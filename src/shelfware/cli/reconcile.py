"""`shelfware reconcile`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, store
from shelfware.cli.report import DateOpt, as_of
from shelfware.cli.subscriptions import JsonFlag
from shelfware.licensing import service
from shelfware.licensing.schemas import ReconciliationRow


def reconcile(
    json_: JsonFlag = False,
    date_: DateOpt = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="keep the position with its date")
    ] = True,
) -> None:
    """Seats owned against seats used, per software model, in money (per year); kept with
    its date for `shelfware report trends`."""
    at = as_of(date_)
    with store() as st:
        if save:
            with st.db.transaction() as session:
                run, rows = service.record_reconciliation(session, clock(), at)
        else:
            with st.db.sessions() as session:
                rows = service.reconcile(session, at)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    print_compliance(rows)
    if save:
        console.print(f"Stored as reconciliation {run.id}. Next: [cyan]shelfware report trends[/]")


def print_compliance(rows: Sequence[ReconciliationRow]) -> None:
    output.table(
        "License compliance",
        [
            "Software model",
            ("Owned", "right"),
            ("Used", "right"),
            ("People", "right"),
            ("Available", "right"),
            ("Stale", "right"),
            "Status",
            ("True-up", "right"),
            ("Over-licensed", "right"),
            ("Potential savings/yr", "right"),
        ],
        [
            (
                r.software_model,
                r.rights_owned,
                r.rights_used,
                r.rights_used_people,
                r.rights_available,
                r.stale,
                "[green]compliant[/]" if r.status == "compliant" else "[red]under-licensed[/]",
                output.money(r.true_up_cost, r.currency),
                output.money(r.over_licensed_amount, r.currency),
                output.money(r.potential_savings, r.currency),
            )
            for r in rows
        ],
    )
