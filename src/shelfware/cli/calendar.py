"""`shelfware calendar create|list|revoke`: the renewals calendar feed's URLs."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.audit.service import current_actor
from shelfware.cli import output
from shelfware.cli.context import clock, console, settings, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.licensing import calendar
from shelfware.ranges import MAX_ID

app = typer.Typer(
    help="The renewals calendar (iCalendar feed) that owners subscribe to.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="what the feed is for, e.g. 'finance'")],
) -> None:
    """A new feed URL (shown once: keep it; anyone holding it reads the renewals)."""
    with store() as st, st.db.transaction() as session:
        feed, token = calendar.create_feed(session, clock(), name, current_actor())
    url = calendar.feed_url(settings().public_url, token)
    console.print(f"Calendar feed {feed.id} ({output.literal(feed.name)}). Subscribe to:")
    print(url)
    console.print(
        "[dim]Shown once: only its digest is kept. Revoke it with "
        f"[cyan]shelfware calendar revoke {feed.id}[/][/]"
    )


@app.command("list")
def list_(json_: JsonFlag = False) -> None:
    """The feeds (their URLs are not kept: create a new one if it was lost)."""
    with store() as st, st.db.sessions() as session:
        feeds = calendar.list_feeds(session)
    if json_:
        output.print_json([f.model_dump() for f in feeds])
        return
    output.table(
        "Calendar feeds",
        [("Id", "right"), "Name", "Created", "By", "Revoked"],
        [(f.id, f.name, f.created_at, f.created_by, f.revoked_at or "") for f in feeds],
    )


@app.command("revoke")
def revoke(
    feed: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="feed id")],
) -> None:
    """End a feed: its URL answers 404 from now on."""
    with store() as st, st.db.transaction() as session:
        view = calendar.revoke_feed(session, clock(), feed)
    console.print(f"Calendar feed {view.id} ({output.literal(view.name)}) revoked.")
