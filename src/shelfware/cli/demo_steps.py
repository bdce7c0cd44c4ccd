"""The steps every `shelfware demo` takes once its sandbox runs: (re)create the demo profile as
a draft, validate it, publish it and sync it, saying each step."""

from __future__ import annotations

import asyncio

import typer

from shelfware.cli.context import console
from shelfware.cli.sync import print_summary, run_one
from shelfware.kit.clock import Clock
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.store import Store


def connect_demo_profile(
    store: Store,
    clk: Clock,
    create: ProfileCreate,
    *,
    created: str,
    published: str = "4. Published",
    sync: str = "5. Sync",
) -> None:
    """Steps 2 to 5: a demo profile of the same name is replaced; the draft is created
    (``created`` says so), validated (exit 1 when a check fails), published and synced."""
    with store.db.transaction() as session:
        try:
            old = profiles.get_profile(session, create.name)
        except profiles.ProfileNotFound:
            old = None
        if old is not None:
            profiles.delete_profile(session, clk, old)
            console.print(f"   (replaced the previous {create.name} profile)")
    with store.db.transaction() as session:
        profiles.create_profile(session, store.keys, clk, create)
    console.print(created)
    report = asyncio.run(profiles.validate_profile(store.db, store.keys, clk, create.name))
    checks = ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}" for c in report.checks)
    console.print(f"3. Validated: {checks}")
    if not report.ok:
        raise typer.Exit(1)
    with store.db.transaction() as session:
        profiles.publish_profile(session, clk, profiles.get_profile(session, create.name))
    console.print(published)
    console.print(sync)
    print_summary(run_one(store.db, store.keys, create.name))
