"""`shelfware reconcile`."""

from __future__ import annotations

from collections.abc import Sequence

from shelfware.cli import output
from shelfware.cli.context import clock, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.licensing import service
from shelfware.licensing.schemas import ReconciliationRow


def reconcile(json_: JsonFlag = False) -> None:
    """Seats owned against seats used, per software model, in money (per year)."""
    with store() as st, st.db.sessions() as session:
        rows = service.reconcile(session, clock().now())
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    print_compliance(rows)


def print_compliance(rows: Sequence[ReconciliationRow]) -> None:
    output.table(
        "License compliance",
        [
            "Software model",
            ("Owned", "right"),
            ("Used", "right"),
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
