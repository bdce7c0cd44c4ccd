"""Microsoft 365 through the CLI, as a person would: a profile with the app registration's
client id and secret, sync, the seats owned listed as entitlements; and the demo option."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.microsoft365 import create_m365_app, generate_tenant
from shelfware.sandbox.server import serve_in_thread

from .test_cli_flow import cli


def test_a_microsoft365_profile_reads_licenses_and_seats_owned(tmp_path):  # type: ignore[no-untyped-def]
    tenant = generate_tenant(80, 5, datetime(2026, 11, 20, 12, tzinfo=UTC))
    home = tmp_path / "home"
    with serve_in_thread(create_m365_app(tenant, FaultSpec())) as server:
        env = {"M365_SECRET": tenant.client_secret}
        cli(home, "init")
        cli(
            home,
            "profile",
            "create",
            "microsoft365",
            "--name",
            "m365",
            "--url",
            f"{server.url}/v1.0",
            "--client-id",
            tenant.client_id,
            "--secret-env",
            "M365_SECRET",
            "--option",
            f"tenant={tenant.tenant_id}",
            "--option",
            f"authority={server.url}",
            env=env,
        )
        cli(home, "profile", "validate", "m365")
        cli(home, "profile", "publish", "m365")
        cli(home, "sync", "m365")
        subs = json.loads(cli(home, "subscriptions", "list", "--json").stdout)
        owned = json.loads(cli(home, "entitlements", "list", "--json").stdout)
        table = cli(home, "entitlements", "list").stdout
    assert len(subs) == sum(len(u.licenses) for u in tenant.users)
    assert sorted(e["seats"] for e in owned) == sorted(s.prepaid for s in tenant.skus)
    assert all(e["unit_cost"] is None and e["vendor_managed"] for e in owned)
    assert "no price" in table


def test_demo_runs_against_the_microsoft365_sandbox(tmp_path):  # type: ignore[no-untyped-def]
    result = cli(tmp_path / "home", "demo", "--vendor", "microsoft365", "--users", "200")
    assert "License compliance" in result.stdout
    assert "Microsoft 365 E3" in result.stdout and "Visio Plan 2" in result.stdout
    assert "Top removal candidates" in result.stdout


def test_demo_runs_against_the_google_sandbox(tmp_path):  # type: ignore[no-untyped-def]
    result = cli(tmp_path / "home", "demo", "--vendor", "google", "--users", "150")
    assert "License compliance" in result.stdout
    assert "Google Workspace Business Standard" in result.stdout
    assert "Top removal candidates" in result.stdout
