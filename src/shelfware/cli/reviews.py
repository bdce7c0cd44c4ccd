"""`shelfware reviews create|list|show|decide|close|report|tick`: access review campaigns."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated

import typer

from shelfware.audit.service import current_actor
from shelfware.cli import output
from shelfware.cli.context import clock, console, err_console, fail, settings, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.notifications.service import Notifier
from shelfware.reviews import export, schedule
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate, CampaignView, ItemView, Recurrence

app = typer.Typer(
    help="Access review campaigns: reviewers attest every seat.", no_args_is_help=True
)

Campaign = Annotated[str, typer.Argument(help="the campaign's id or name")]


def _due(text: str) -> datetime:
    """A date (end of that day, UTC) or an ISO 8601 instant."""
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time(23, 59, 59), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--due {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="the campaign's name (unique)")],
    scope: Annotated[
        str, typer.Option(help="model=PUBLISHER PRODUCT EDITION, profile=NAME or department=NAME")
    ],
    due: Annotated[str, typer.Option(help="due date, YYYY-MM-DD (end of day, UTC)")],
    reviewer: Annotated[
        str, typer.Option(help="manager (the holder's), owner (the model's) or an email")
    ] = "manager",
    owner: Annotated[
        str, typer.Option(help="the campaign owner's email: the last escalation step")
    ] = "",
    quarterly: Annotated[bool, typer.Option(help="start it again every quarter")] = False,
    json_: JsonFlag = False,
) -> None:
    """Start a campaign: snapshot the seats in scope and assign each to its reviewer."""
    data = CampaignCreate(
        name=name,
        scope=scope,
        due=_due(due),
        reviewer=reviewer,
        owner=owner or None,
        recurrence=Recurrence.QUARTERLY if quarterly else None,
    )
    with store() as st, st.db.transaction() as session:
        view = reviews.create_campaign(session, clock(), data, actor=current_actor())
    if json_:
        output.print_json(view.model_dump())
        return
    _print_campaigns([view])
    console.print(
        f"Started: {view.items} seats to review by {view.due_at:%Y-%m-%d}. Reviewers are "
        "reminded by email before the due date (the jobs tick); follow progress with "
        f"`shelfware reviews show {view.id}`."
    )
    if view.unassigned:
        console.print(
            f"{view.unassigned} seats have no reviewer: give them one with "
            f"`shelfware reviews decide {view.id} ITEM --reassign EMAIL --admin`."
        )


def _print_campaigns(rows: list[CampaignView]) -> None:
    output.table(
        "Review campaigns",
        [
            ("ID", "right"),
            "Name",
            "Scope",
            "Reviewers",
            "Owner",
            "Due",
            ("Seats", "right"),
            ("Decided", "right"),
            "State",
        ],
        [
            (
                c.id,
                c.name,
                c.scope,
                c.reviewer_email or c.reviewer_policy,
                c.owner,
                f"{c.due_at:%Y-%m-%d}",
                c.items,
                c.decided,
                "closed" if c.closed_at else ("open, quarterly" if c.recurrence else "open"),
            )
            for c in rows
        ],
    )


@app.command("list")
def list_(json_: JsonFlag = False) -> None:
    """Every campaign, newest first, with how far it got."""
    with store() as st, st.db.sessions() as session:
        rows = reviews.list_campaigns(session)
    if json_:
        output.print_json([r.model_dump() for r in rows])
    elif not rows:
        console.print("No campaign yet: start one with `shelfware reviews create`.")
    else:
        _print_campaigns(rows)


def _print_items(title: str, items: list[ItemView]) -> None:
    output.table(
        title,
        [
            ("Item", "right"),
            "Holder",
            "App",
            "Edition",
            "Last activity",
            ("Idle days", "right"),
            ("Cost/yr", "right"),
            "Reviewer",
            "Decision",
            "Outcome",
        ],
        [
            (
                i.id,
                i.holder or i.username,
                i.app,
                i.edition,
                f"{i.last_activity_at:%Y-%m-%d}" if i.last_activity_at else "never",
                i.idle_days,
                output.money(i.annual_cost),
                i.reviewer or "(unassigned)",
                i.decision or "",
                i.outcome,
            )
            for i in items
        ],
    )


@app.command("show")
def show(
    campaign: Campaign,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="only this reviewer's items (an email)")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """A campaign: completion per reviewer, and one reviewer's items."""
    with store() as st, st.db.sessions() as session:
        view = reviews.campaign_view(session, campaign)
        progress = reviews.progress(session, campaign)
        items = (
            reviews.my_items(session, campaign, reviews.normal_email(reviewer))
            if reviewer
            else None
        )
    if json_:
        output.print_json(
            {
                "campaign": view.model_dump(),
                "progress": [p.model_dump() for p in progress],
                "items": None if items is None else [i.model_dump() for i in items],
            }
        )
        return
    _print_campaigns([view])
    output.table(
        "Completion per reviewer",
        [
            "Reviewer",
            ("Seats", "right"),
            ("Decided", "right"),
            ("Kept", "right"),
            ("Revoked", "right"),
            ("Complete", "right"),
        ],
        [
            (
                p.reviewer or "(unassigned)",
                p.items,
                p.decided,
                p.kept,
                p.revoked,
                f"{p.percent:.0f}%",
            )
            for p in progress
        ],
    )
    if items is not None:
        _print_items(f"Seats {reviewer} reviews", items)


@app.command("decide")
def decide(
    campaign: Campaign,
    item: Annotated[int | None, typer.Argument(help="the item (omit with --holder)")] = None,
    as_: Annotated[
        str, typer.Option("--as", help="the reviewer whose decision this is (their email)")
    ] = "",
    keep: Annotated[bool, typer.Option("--keep", help="keep the seat")] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="revoke it (needs --reason)")] = False,
    reassign: Annotated[
        str, typer.Option("--reassign", help="hand it to another reviewer (an email)")
    ] = "",
    reason: Annotated[str, typer.Option(help="why: required to revoke")] = "",
    holder: Annotated[str, typer.Option(help="every undecided seat of this person (bulk)")] = "",
    admin: Annotated[
        bool, typer.Option("--admin", help="reassign as the campaign's manager (no --as)")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Record a reviewer's decision: --keep, --revoke --reason TEXT or --reassign EMAIL."""
    chosen = [
        n for n, on in (("keep", keep), ("revoke", revoke), ("reassign", bool(reassign))) if on
    ]
    if len(chosen) != 1:
        fail("choose one of --keep, --revoke (with --reason) or --reassign EMAIL")
    decision = chosen[0]
    if (item is None) == (not holder):
        fail("name one item, or --holder EMAIL for every undecided seat of one person")
    actor = current_actor()
    with store() as st, st.db.transaction() as session:
        if admin:
            if decision != "reassign" or item is None:
                fail("--admin only reassigns one item: --reassign EMAIL ITEM")
            done = [
                reviews.reassign_by_admin(session, clock(), campaign, item, reassign, actor=actor)
            ]
        else:
            who = reviews.normal_email(as_)
            if who is None:
                fail("--as EMAIL: the reviewer whose decision this is")
            args = dict(reason=reason or None, to=reassign or None, actor=f"{actor} for {who}")
            if item is not None:
                done = [reviews.decide(session, clock(), campaign, item, who, decision, **args)]
            else:
                done = reviews.decide_for_holder(
                    session, clock(), campaign, holder, who, decision, **args
                )
    failed = _tell_new_reviewers(done) if decision == "reassign" else []
    if json_:
        output.print_json([d.model_dump() for d in done])
        return
    _print_items("Decided", done)
    for line in failed:
        err_console.print(f"The email to the new reviewer did not go: {line}")
    if any(d.outcome == "pending" for d in done):
        console.print(
            "Revoked seats are removal candidates, ready: the jobs tick reclaims them under the "
            "reclaim cap (or now: `shelfware candidates reclaim --all-ready`)."
        )


def _tell_new_reviewers(done: list[ItemView]) -> list[str]:
    """After the commit: each new reviewer is emailed their link at once; what failed."""
    if not done:
        return []
    counts = Counter(item.reviewer for item in done if item.reviewer)
    with store() as st:
        return schedule.tell_reviewers_now(
            st.db, Notifier(settings()), st.keys, clock(), done[0].campaign_id, counts
        )


@app.command("close")
def close(campaign: Campaign, json_: JsonFlag = False) -> None:
    """Close a campaign: its decisions can no longer change."""
    with store() as st, st.db.transaction() as session:
        view = reviews.close_campaign(session, clock(), campaign, actor=current_actor())
    if json_:
        output.print_json(view.model_dump())
        return
    console.print(
        f"Closed {view.name!r}: {view.decided} of {view.items} seats decided. The evidence: "
        f"`shelfware reviews report {view.id} --format html --output review.html`."
    )


@app.command("report")
def report(
    campaign: Campaign,
    format_: Annotated[str, typer.Option("--format", help="csv, json or html")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--output", help="write to this file (default: stdout)")
    ] = None,
) -> None:
    """The evidence: every seat, reviewer, decision, reason, time and outcome."""
    if format_ not in export.FORMATS:
        fail(f"--format {format_!r}: use one of {', '.join(export.FORMATS)}")
    with store() as st, st.db.sessions() as session:
        view = reviews.campaign_view(session, campaign)
        progress = reviews.progress(session, campaign)
        records = reviews.report_records(session, campaign)
        chunks = export.chunks(format_, view, progress, records, clock().now())
        if out is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
    console.print(f"Wrote the report of {view.name!r} ({view.items} seats) to {out}.")


@app.command("tick")
def tick() -> None:
    """Run the reviews' periodic step now (the jobs tick runs it hourly)."""
    config = settings()
    with store() as st:
        summary = asyncio.run(schedule.run_due(st.db, st.keys, clock(), Notifier(config)))
    output.print_json(summary.model_dump())
