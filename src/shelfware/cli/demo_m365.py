"""`shelfware demo --vendor microsoft365`: the loop against the Microsoft 365 sandbox, with the
seats owned read from the vendor (subscribed SKUs) instead of typed."""

from __future__ import annotations

from shelfware.cli.candidates import print_candidates
from shelfware.cli.context import console
from shelfware.cli.demo_steps import connect_demo_profile
from shelfware.cli.reconcile import print_compliance
from shelfware.kit.clock import Clock
from shelfware.licensing import service as licensing
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import service as reclamation
from shelfware.sandbox import build_microsoft365
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.store import Store

DEMO_PROFILE = "m365-demo"
# The admin's price list for the demo (per seat per month, USD): given as the profile's
# `prices` option; a SKU left out has seats owned but no price.
DEMO_PRICES = "SPE_E3=36/month,SPE_E5=57/month,VISIOCLIENT=15/month"


def run_m365_demo(store: Store, clk: Clock, users: int, seed: int) -> None:
    app, tenant = build_microsoft365(users, seed, clk.now(), 0, FaultSpec())
    with serve_in_thread(app) as server:
        url = f"{server.url}/v1.0"
        console.print(
            f"1. Microsoft 365 sandbox with {len(tenant.users):,} users: Graph at {url}, "
            f"token endpoint at {server.url}/{{tenant}}/oauth2/v2.0/token"
        )
        connect_demo_profile(
            store,
            clk,
            ProfileCreate(
                kind="microsoft365",
                name=DEMO_PROFILE,
                url=url,
                secrets={"client_id": tenant.client_id, "client_secret": tenant.api_key},
                options={
                    "tenant": tenant.tenant_id,
                    "authority": server.url,
                    "prices": DEMO_PRICES,
                },
            ),
            created=f"2. Created draft profile {DEMO_PROFILE} (client secret stored encrypted; "
            f"prices {DEMO_PRICES})",
            sync="5. Sync: licenses held, and seats owned read from subscribedSkus",
        )
        console.print("6. Reconcile")
        with store.db.sessions() as session:
            rows = [
                r for r in licensing.reconcile(session, clk.now()) if r.publisher == "Microsoft"
            ]
            candidates = reclamation.list_candidates(session)
        print_compliance(rows)
        print_candidates(f"Top removal candidates (of {len(candidates):,})", candidates[:10])
        savings = sum(r.potential_savings or 0 for r in rows)
        console.print(
            f"Potential savings: [bold green]{savings:,.2f} USD per year[/]. "
            "Try [cyan]shelfware candidates reclaim --all-ready --dry-run[/]."
        )
