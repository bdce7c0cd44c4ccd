"""`shelfware subscriptions list`."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.cli import output
from shelfware.cli.context import store
from shelfware.ranges import MAX_ROWS
from shelfware.subscriptions import service
from shelfware.subscriptions.schemas import SubscriptionQuery

app = typer.Typer(help="Accounts holding seats.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print a JSON array")]
Limit = Annotated[
    int | None,
    typer.Option(min=1, max=MAX_ROWS, help="at most this many rows (table only)"),
]


@app.command("list")
def list_(
    profile: Annotated[str | None, typer.Option(help="only this profile")] = None,
    all_: Annotated[bool, typer.Option("--all", help="also accounts without a seat")] = False,
    limit: Limit = None,
    json_: JsonFlag = False,
) -> None:
    """Accounts that currently hold a seat (all accounts with --all)."""
    query = SubscriptionQuery(profile=profile, all=all_)
    with store() as st, st.db.sessions() as session:
        rows = service.list_subscriptions(session, query)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    shown = rows[:limit] if limit else rows
    output.table(
        "Subscriptions",
        ["Profile", "User", "Email", "Model", "Admin", "Last activity", "Active", "Kept until"],
        [
            (
                r.profile,
                r.username,
                r.email,
                r.software_model,
                r.admin,
                r.last_activity_at,
                r.active,
                f"{r.kept_until:%Y-%m-%d}" if r.kept_until else "",
            )
            for r in shown
        ],
        caption=f"{len(shown)} of {len(rows)}" if limit and len(rows) > limit else None,
    )
