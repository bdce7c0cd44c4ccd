"""`shelfware demo --vendor google`: the loop against the Google Workspace sandbox."""

from __future__ import annotations

from shelfware.cli.candidates import print_candidates
from shelfware.cli.context import console
from shelfware.cli.demo_steps import connect_demo_profile
from shelfware.cli.reconcile import print_compliance
from shelfware.kit.clock import Clock
from shelfware.licensing import service as licensing
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import service as reclamation
from shelfware.sandbox import build_google
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.store import Store

DEMO_PROFILE = "google-demo"


def run_google_demo(store: Store, clk: Clock, users: int, seed: int) -> None:
    app, domain = build_google(users, seed, clk.now(), 0, FaultSpec())
    with serve_in_thread(app) as server:
        console.print(
            f"1. Google Workspace sandbox with {len(domain.users):,} users at {server.url} "
            "(token endpoint, Directory, Enterprise License Manager)"
        )
        connect_demo_profile(
            store,
            clk,
            ProfileCreate(
                kind="google_workspace",
                name=DEMO_PROFILE,
                url=server.url,
                secrets={"api_key": domain.api_key},
                options={
                    "customer": domain.customer_id,
                    "admin": domain.admin,
                    "token_uri": f"{server.url}/token",
                    "directory_url": server.url,
                },
            ),
            created=f"2. Created draft profile {DEMO_PROFILE} (service account key stored "
            f"encrypted, impersonating {domain.admin})",
            sync="5. Sync",
        )
        console.print("6. Reconcile (Google seats owned are typed: shelfware entitlements add)")
        with store.db.sessions() as session:
            rows = [r for r in licensing.reconcile(session, clk.now()) if r.publisher == "Google"]
            candidates = reclamation.list_candidates(session)
        print_compliance(rows)
        print_candidates(f"Top removal candidates (of {len(candidates):,})", candidates[:10])
