"""`shelfware sync`: download + activity + rule evaluation, with a progress bar."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from shelfware.cli import output
from shelfware.cli.context import clock, console, err_console, fail, one_line, store
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.profiles import service as profiles
from shelfware.sync.schemas import SyncSummary
from shelfware.sync.service import SyncError, sync_profile


class RichSyncProgress:
    def __init__(self, progress: Progress, name: str) -> None:
        self._progress = progress
        self._task = progress.add_task(f"{name}: download", total=None)
        self._name = name

    def pages(self, done: int, accounts: int, total: int | None) -> None:
        self._progress.update(self._task, completed=accounts, total=total)

    def stage(self, name: str) -> None:
        self._progress.update(self._task, description=f"{self._name}: {name}")


def run_one(db: Database, keys: KeyRing, name: str, *, quiet: bool = False) -> SyncSummary:
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("accounts"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    ) as progress:
        return asyncio.run(
            sync_profile(db, keys, clock(), name, progress=RichSyncProgress(progress, name))
        )


def cleaned_text(cleaned: dict[str, int]) -> str:
    """``display_name.truncated 1, username.control 3``: what a run cleaned, per field."""
    return ", ".join(f"{key} {count:,}" for key, count in cleaned.items())


def print_summary(summary: SyncSummary) -> None:
    console.print(
        f"[bold]{output.literal(summary.profile)}[/]: {summary.status} in {summary.seconds:.1f}s — "
        f"{summary.accounts:,} accounts in {summary.pages} pages ({summary.requests} requests, "
        f"{summary.retries} retries); {summary.created:,} new, {summary.updated:,} changed, "
        f"{summary.gone:,} gone; candidates: {summary.candidates_created:,} new, "
        f"{summary.candidates_canceled:,} canceled, {summary.candidates_closed:,} closed"
        + (
            f"; waited {summary.waited_seconds:.1f}s for rate limits"
            if summary.waited_seconds
            else ""
        )
        + (f"; {summary.skipped:,} unreadable records skipped" if summary.skipped else "")
    )
    if summary.unrecognised:
        console.print(
            f"  [yellow]{summary.unrecognised:,} accounts with a role or status the connector "
            "does not know[/] (counted as admins, never candidates; see `profile validate`): "
            + output.literal(", ".join(summary.unrecognised_values))
        )
    if summary.cleaned:
        console.print(f"  cleaned vendor values: {output.literal(cleaned_text(summary.cleaned))}")
    people = summary.people
    if people is not None:
        console.print(
            f"  people: {people.created:,} new, {people.updated:,} updated, {people.left:,} "
            f"left the organisation, {people.deleted:,} no longer listed"
            + (f"; {people.linked:,} accounts in other profiles linked" if people.linked else "")
            + (f"; {people.memberships:,} group memberships" if people.memberships else "")
        )


def sync(
    name: Annotated[str | None, typer.Argument(help="profile name")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every published profile")] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Download subscriptions, pull activity and evaluate rules for a profile."""
    if bool(name) == all_:
        fail("name one profile, or use --all")
    failures = 0
    results = []
    with store() as st:
        if all_:
            with st.db.sessions() as session:
                names = [p.name for p in profiles.list_profiles(session) if p.status == "published"]
            if not names:
                fail("no published profile to sync")
        else:
            names = [name]  # type: ignore[list-item]
        for each in names:
            try:
                summary = run_one(st.db, st.keys, each, quiet=json_)
            except SyncError as exc:
                failures += 1
                err_console.print(
                    f"[bold red]error:[/] {output.literal(one_line(str(exc)))}", highlight=False
                )
                if exc.summary is not None:
                    results.append(exc.summary)
                continue
            results.append(summary)
            if not json_:
                print_summary(summary)
    if json_:
        output.print_json([dataclasses.asdict(s) for s in results])
    if failures:
        raise typer.Exit(1)
