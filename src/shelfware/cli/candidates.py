"""`shelfware candidates list|reclaim|advance|approve|reject|keep|release`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer
from pydantic import TypeAdapter
from rich.progress import Progress

from shelfware.accounts.roles import Role
from shelfware.audit.service import current_actor
from shelfware.cli import output
from shelfware.cli.context import clock, console, err_console, settings, store
from shelfware.cli.subscriptions import JsonFlag, Limit
from shelfware.notifications.service import Notifier
from shelfware.ranges import Id
from shelfware.reclamation import keeps, service, workflow
from shelfware.reclamation.schemas import CandidateView, ReclaimOutcomeView, ReclaimRequest

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
        if limit and not json_:  # the first page only (keyset: it reads what it shows)
            page = service.page_candidates(
                session, state=state, profile=profile, limit=limit, now=clock().now()
            )
            shown, total = page.items, len(page.items)
            if page.next_cursor is not None:
                total = service.count_candidates(session, state=state, profile=profile)
        else:
            shown = service.list_candidates(
                session, state=state, profile=profile, now=clock().now()
            )
            total = len(shown)
    if json_:
        output.print_json([r.model_dump() for r in shown])
        return
    caption = f"{len(shown)} of {total}" if total > len(shown) else None
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
                r.software_model if r.action == "remove" else f"{r.software_model}: {r.what}",
                r.state if r.kept_until is None else f"{r.state}, {keeps.kept_note(r.kept_until)}",
                r.justification,
                r.inactive_days,
                output.money(r.potential_savings),
            )
            for r in rows
        ],
        caption=caption,
    )


DryRun = Annotated[bool, typer.Option("--dry-run", help="re-read only; change nothing")]
Force = Annotated[
    bool, typer.Option("--force", help="exceed the blast-radius cap (needs --reason)")
]
Reason = Annotated[str, typer.Option(help="why the cap is exceeded (recorded)")]


def _override(request: ReclaimRequest) -> service.Override | None:
    """The local operator counts as an admin: --force --reason exceeds the cap (audited)."""
    return service.override_for(request.force, request.reason, current_actor(), Role.ADMIN)


@app.command("reclaim")
def reclaim(
    ids: Annotated[list[int] | None, typer.Argument(help="candidate ids")] = None,
    all_ready: Annotated[
        bool, typer.Option("--all-ready", help="every ready candidate (and any left in flight)")
    ] = False,
    dry_run: DryRun = False,
    force: Force = False,
    reason: Reason = "",
    json_: JsonFlag = False,
) -> None:
    """Re-read each account, then reclaim it through the app's API (or cancel the candidate).

    At most 10% of a model's seats and 50 accounts per model are reclaimed in any 24 hours,
    whatever face started them (SHELFWARE_RECLAIM_MAX_PERCENT, _MAX_ACCOUNTS, _WINDOW_HOURS);
    a run over it stops before the first reclaim, unless --force --reason TEXT (audited)."""
    request = ReclaimRequest(
        ids=ids or [], all_ready=all_ready, dry_run=dry_run, force=force, reason=reason
    )
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
                override=_override(request),
                settings=settings(),
                on_progress=lambda n: bar.advance(task, n),
            )
        )
    _report(outcomes, dry_run, json_)


def _report(outcomes: list[ReclaimOutcomeView], dry_run: bool, json_: bool) -> None:
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


@app.command("advance")
def advance(
    dry_run: DryRun = False,
    force: Force = False,
    reason: Reason = "",
    json_: JsonFlag = False,
) -> None:
    """The workflow's periodic step: ask users (keep/release links), remind them, ask
    approvers, and reclaim what is decided (released, past the deadline, approved)."""
    request = ReclaimRequest(all_ready=True, dry_run=dry_run, force=force, reason=reason)
    with store() as st:
        report = asyncio.run(
            workflow.advance(
                st.db,
                st.keys,
                clock(),
                Notifier(settings()),
                override=_override(request),
                dry_run=dry_run,
            )
        )
    if json_:
        output.print_json(
            {
                "dry_run": report.dry_run,
                "notified": report.notified,
                "reminded": report.reminded,
                "approvals_requested": report.approvals_requested,
                "cooling_down": report.cooling_down,
                "needs_person": report.needs_person,
                "delivery_failed": {str(k): v for k, v in report.delivery_failed.items()},
                "chat_failed": report.chat_failed,
                "due": report.due,
                "reclaim": [o.model_dump() for o in report.reclaim],
            }
        )
    else:
        would = "would be " if dry_run else ""
        console.print(
            f"{len(report.notified)} {would}asked, {len(report.reminded)} {would}reminded, "
            f"{len(report.approvals_requested)} approvals {would}requested, "
            f"{len(report.cooling_down)} cooling down, {len(report.needs_person)} need a person, "
            f"{len(report.delivery_failed)} not delivered, {len(report.due)} due for reclaim"
        )
        for cand_id, error in sorted(report.delivery_failed.items()):
            err_console.print(output.literal(f"candidate {cand_id}: not delivered: {error}"))
        for problem in report.chat_failed:
            err_console.print(output.literal(f"chat webhook: {problem}"))
        if report.reclaim:
            _report(report.reclaim, dry_run, json_=False)
    if report.delivery_failed or any(
        o.action in ("failed", "unreachable", "not_attempted") for o in report.reclaim
    ):
        raise typer.Exit(1)


CandidateId = Annotated[int, typer.Argument(help="candidate id")]


def _decide(action: str, candidate_id: int) -> None:
    cand = TypeAdapter(Id).validate_python(candidate_id)
    actor = current_actor()
    with store() as st, st.db.transaction() as session:
        said = workflow.decide(session, clock(), cand, action, actor=actor)
    console.print(output.literal(f"Candidate {cand}: {said}"))


@app.command("approve")
def approve(candidate_id: CandidateId) -> None:
    """Approve the removal of a seat its user wanted to keep."""
    _decide("approve", candidate_id)


@app.command("reject")
def reject(candidate_id: CandidateId) -> None:
    """Decline the removal: the user keeps the seat."""
    _decide("reject", candidate_id)


@app.command("keep")
def keep(candidate_id: CandidateId) -> None:
    """Answer "keep" for the user (as their link would)."""
    _decide("keep", candidate_id)


@app.command("release")
def release(candidate_id: CandidateId) -> None:
    """Answer "release" for the user (as their link would)."""
    _decide("release", candidate_id)


@app.command("retry")
def retry(candidate_id: CandidateId) -> None:
    """A candidate that needed attention is fixed: make it ready again."""
    _decide("retry", candidate_id)
