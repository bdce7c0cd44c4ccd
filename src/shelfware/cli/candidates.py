"""`shelfware candidates list|reclaim`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.progress import Progress

from shelfware.cli import output
from shelfware.cli.context import clock, console, err_console, store
from shelfware.cli.subscriptions import JsonFlag, Limit
from shelfware.reclamation import service
from shelfware.reclamation.schemas import CandidateView, ReclaimRequest

app = typer.Typer(help="Removal candidates and reclaim.", no_args_is_help=True)


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="only this state")] = None,
    profile: Annotated[str | None, typer.Option(help="only this profile")] = None,
    limit: Limit = None,
    json_: JsonFlag = False,
) -> None:
    """Removal candidates, biggest saving first."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_candidates(session, state=state, profile=profile)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    shown = rows[:limit] if limit else rows
    caption = f"{len(shown)} of {len(rows)}" if limit and len(rows) > limit else None
    print_candidates("Removal candidates", shown, caption=caption)


def print_candidates(title: str, rows: Sequence[CandidateView], caption: str | None = None) -> None:
    output.table(
        title,
        [
            ("ID", "right"),
            "Profile",
            "User",
            "Model",
            "State",
            "Why",
            ("Idle days", "right"),
            ("Potential savings/yr", "right"),
        ],
        [
            (
                r.id,
                r.profile,
                r.username,
                r.software_model,
                r.state,
                r.justification,
                r.inactive_days,
                output.money(r.potential_savings),
            )
            for r in rows
        ],
        caption=caption,
    )


@app.command("reclaim")
def reclaim(
    ids: Annotated[list[int] | None, typer.Argument(help="candidate ids")] = None,
    all_ready: Annotated[bool, typer.Option("--all-ready", help="every ready candidate")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="re-read only; change nothing")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Re-read each account, then reclaim it through the app's API (or cancel the candidate)."""
    request = ReclaimRequest(ids=ids or [], all_ready=all_ready, dry_run=dry_run)
    with store() as st, Progress(console=err_console, transient=True, disable=json_) as bar:
        task = bar.add_task("reclaiming" if not dry_run else "checking", total=None)
        outcomes = asyncio.run(
            service.reclaim_candidates(
                st.db,
                st.keys,
                clock(),
                ids=request.ids,
                all_ready=request.all_ready,
                dry_run=request.dry_run,
                on_progress=lambda n: bar.advance(task, n),
            )
        )
    if json_:
        output.print_json([o.model_dump() for o in outcomes])
    else:
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.action] = counts.get(o.action, 0) + 1
        failed = [o for o in outcomes if o.action in ("failed", "unreachable")]
        if failed:
            output.table(
                "Failed",
                [("ID", "right"), "User", "Error"],
                [(o.candidate_id, o.username, o.message) for o in failed[:50]],
            )
        summary = ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in sorted(counts.items()))
        console.print(summary or "no candidate to reclaim")
        if not dry_run and counts.get("reclaimed"):
            console.print("Reclaimed seats close as complete when the next sync confirms them.")
    if any(o.action in ("failed", "unreachable", "not_attempted") for o in outcomes):
        raise typer.Exit(1)
