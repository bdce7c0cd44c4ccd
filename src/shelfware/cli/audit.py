"""`shelfware audit list`: the audit trail, newest first (the API's and the web page's)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shelfware.audit import service
from shelfware.audit.service import AuditQuery
from shelfware.cli import output
from shelfware.cli.context import store
from shelfware.cli.subscriptions import JsonFlag

app = typer.Typer(help="The audit trail: who did what, when.", no_args_is_help=True)


@app.command("list")
def list_(
    action: Annotated[
        str | None, typer.Option(help="this action or those under it (user: user.*)")
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="this actor, or any face's principal of this name")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="at or after this date or instant (UTC, ISO 8601)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this date or instant (UTC)")] = None,
    limit: Annotated[int, typer.Option(help="at most this many (1..1000)")] = 100,
    json_: JsonFlag = False,
) -> None:
    """Audit events, newest first: sign-ins, failed sign-ins and lockouts, and every change."""
    query = AuditQuery.model_validate(
        {"action": action, "actor": actor, "since": since, "until": until, "limit": limit}
    )
    with store() as st, st.db.sessions() as session:
        rows = service.list_events(session, query)
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "Audit trail",
        [("ID", "right"), "At", "Actor", "Action", "Object", "Detail"],
        [
            (
                e.id,
                e.at,
                e.actor,
                e.action,
                f"{e.object_type} {e.object_id}",
                json.dumps(e.detail, sort_keys=True, default=str),
            )
            for e in rows
        ],
    )
