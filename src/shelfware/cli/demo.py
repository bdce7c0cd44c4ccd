"""`shelfware demo`: the whole loop against the Rally sandbox on the embedded default."""

from __future__ import annotations

import math
import os
import secrets
from decimal import Decimal
from typing import Annotated

import typer

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import UserCreate
from shelfware.cli.candidates import print_candidates
from shelfware.cli.context import clock, console, settings
from shelfware.cli.demo_steps import connect_demo_profile
from shelfware.cli.reconcile import print_compliance
from shelfware.kit.clock import Clock
from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.profiles.schemas import ProfileCreate
from shelfware.ranges import MAX_ID, MAX_ROWS
from shelfware.reclamation import service as reclamation
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.store import Store, init_store

DEMO_PROFILE = "rally-demo"
DEMO_ADMIN = "admin"


def demo(
    users: Annotated[
        int, typer.Option(min=10, max=MAX_ROWS, help="users in the organisation, 10..1,000,000")
    ] = 2000,
    seed: Annotated[int, typer.Option(min=0, max=MAX_ID, help="seed, 0..2^63-1")] = 7,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="then serve the workspace over the demo data (Ctrl-C stops)"),
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="the workspace's port")] = 8000,
    vendor: Annotated[
        str,
        typer.Option(help="the sandbox to run the loop against: rally, microsoft365 or google"),
    ] = "rally",
) -> None:
    """Start the Rally sandbox, connect it, sync, add an entitlement, reconcile, show savings;
    with ``--serve``, then run the web workspace on it with a demo admin."""

    # the demo's sandbox listens on loopback: allow private addresses in this process
    os.environ[ALLOW_PRIVATE_ENV] = "true"
    conf = settings()
    clk = clock()
    store = init_store(conf)
    console.rule("[bold]shelfware demo")
    console.print(f"Data directory: {conf.home}")
    if vendor not in ("rally", "microsoft365", "google"):
        console.print(f"--vendor {vendor!r}: choose rally, microsoft365 or google")
        raise typer.Exit(2)
    if vendor == "google":
        from shelfware.cli.demo_google import run_google_demo

        run_google_demo(store, clk, users, seed)
        store.db.dispose()
        return
    if vendor == "microsoft365":
        from shelfware.cli.demo_m365 import run_m365_demo

        run_m365_demo(store, clk, users, seed)
        store.db.dispose()
        return
    app, org = SANDBOXES["rally"](users, seed, clk.now(), 0, FaultSpec())
    with serve_in_thread(app) as server:
        url = f"{server.url}/slm/webservice"
        console.print(f"1. Rally sandbox with {len(org.users):,} users at {url}")
        connect_demo_profile(
            store,
            clk,
            ProfileCreate(
                kind="rally", name=DEMO_PROFILE, url=url, secrets={"api_key": org.api_key}
            ),
            created=f"2. Created draft profile {DEMO_PROFILE} (API key stored encrypted)",
            published="4. Published: software model and default rule (60 days) created",
        )
        with store.db.transaction() as session:
            used = sum(
                r.rights_used
                for r in licensing.reconcile(session, clk.now())
                if r.product == "Rally"
            )
            seats = int(math.ceil(used * 1.1 / 50) * 50)
            licensing.add_entitlement(
                session,
                clk,
                EntitlementCreate(
                    model="Broadcom/Rally/Unlimited",
                    seats=seats,
                    unit_cost=Decimal("45"),
                    billing_period="monthly",
                    contract_ref="DEMO-RALLY-1",
                ),
            )
        console.print(f"6. Entitlement: {seats:,} seats at 45 USD per seat per month")
        console.print("7. Reconcile")
        with store.db.sessions() as session:
            rows = licensing.reconcile(session, clk.now())
            candidates = reclamation.list_candidates(session, now=clk.now())
        top, total = candidates[:10], len(candidates)
        print_compliance(rows)
        print_candidates(f"Top removal candidates (of {total:,})", top)
        savings = sum(r.potential_savings or 0 for r in rows)
        console.print(
            f"Potential savings: [bold green]{savings:,.2f} USD per year[/]. "
            "Try [cyan]shelfware candidates reclaim --all-ready --dry-run[/]."
        )
        if serve:
            serve_workspace(store, clk, port, sandbox_url=url)
    store.db.dispose()
    if os.environ.get("SHELFWARE_HOME") is None:
        console.print(f"(Data kept in {conf.home}; set SHELFWARE_HOME to use another place.)")


def demo_admin(store: Store, clk: Clock) -> str:
    """The demo's admin account, with a fresh random password (returned to be printed)."""
    password = secrets.token_urlsafe(12)
    with store.db.transaction() as session:
        try:
            accounts.get_user(session, DEMO_ADMIN)
        except accounts.AccountNotFound:
            accounts.create_user(
                session, clk, UserCreate(username=DEMO_ADMIN, password=password, role=Role.ADMIN)
            )
        else:
            accounts.set_password(session, clk, DEMO_ADMIN, password)
    return password


def serve_workspace(store: Store, clk: Clock, port: int, *, sandbox_url: str) -> None:
    """The web workspace (and the API) on 127.0.0.1:``port`` until Ctrl-C."""
    import uvicorn

    from shelfware.serve import create_app

    password = demo_admin(store, clk)
    address = f"http://127.0.0.1:{port}"
    console.rule("[bold]workspace")
    console.print(
        f"8. The workspace runs on [bold cyan]{address}[/] over the demo data.\n"
        f"   Sign in as [bold]{DEMO_ADMIN}[/] with password [bold]{password}[/] "
        "(made for this demo; change it with `shelfware users password admin`).\n"
        f"   The Rally sandbox stays up at {sandbox_url} for syncs; Ctrl-C stops both."
    )
    app = create_app(store=store, clock=clk)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)
