"""The workflow's commands (`rules set|dry-run`, `candidates advance|keep|approve|reject`),
run in-process exactly as `main()` runs them, against the synced world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shelfware.models.reclamation import AnswerLink
from tests.cli.conftest import Ran, assert_one_line_error, invoke
from tests.reclamation.conftest import MODEL, World

pytestmark = pytest.mark.store


def shelfware(world: World, home: Path, *args: str) -> Ran:
    env = {
        "SHELFWARE_DATABASE_URL": world.db.engine.url.render_as_string(hide_password=False),
        "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in world.keys.keys),
        "SHELFWARE_CLOCK": world.clock.now().isoformat(),
        "SHELFWARE_SMTP_HOST": "127.0.0.1",
        "SHELFWARE_SMTP_PORT": str(world.mailbox.port),
        "SHELFWARE_SMTP_STARTTLS": "false",
        "SHELFWARE_PUBLIC_URL": world.answer_url,
        "SHELFWARE_RECLAIM_MAX_PERCENT": "100",
        "SHELFWARE_RECLAIM_MAX_ACCOUNTS": "1000",
    }
    return invoke(home, *args, env=env)


def ok(ran: Ran) -> Any:
    assert ran.code == 0, ran
    return json.loads(ran.stdout) if ran.stdout.lstrip().startswith(("[", "{")) else ran.stdout


def test_rules_set_list_and_dry_run(world: World, tmp_path: Path) -> None:
    ok(
        shelfware(
            world,
            tmp_path,
            "rules", "set", MODEL,
            "--exclude-pattern", "svc-*",
            "--exclude-group", "Contractors",
            "--approver", "Lead@Corp.Test",
            "--auto-reclaim-days", "5",
        )
    )  # fmt: skip
    [rule] = ok(shelfware(world, tmp_path, "rules", "list", "--json"))
    assert rule["service_account_patterns"] == ["svc-*"]
    assert rule["excluded_groups"] == ["contractors"]
    assert sorted(rule["approvers"]) == ["boss@corp.test", "lead@corp.test"]
    assert (rule["notify"], rule["approval_required"], rule["auto_reclaim_days"]) == (
        True,
        True,
        5,
    )

    # The dry run selects exactly what evaluation made candidates of (same conditions)...
    selected = ok(shelfware(world, tmp_path, "rules", "dry-run", MODEL, "--json"))
    open_ids = {c["external_id"] for c in world.candidates() if c["state"] == "ready"}
    assert {s["external_id"] for s in selected} == open_ids
    assert all(s["open_candidate"] == "ready" for s in selected)
    # ...and follows a rule change at once, writing nothing.
    victim = selected[0]
    name = victim["username"]
    ok(shelfware(world, tmp_path, "rules", "set", MODEL, "--exclude-pattern", name[:3] + "*"))
    after = ok(shelfware(world, tmp_path, "rules", "dry-run", MODEL, "--json"))
    assert victim["external_id"] not in {s["external_id"] for s in after}
    assert all(not (s["username"] or "").lower().startswith(name[:3].lower()) for s in after)
    assert {c["external_id"] for c in world.candidates("ready")} == open_ids

    assert_one_line_error(shelfware(world, tmp_path, "rules", "dry-run", "No Such Model"))


def test_advance_and_decisions_by_cli(world: World, tmp_path: Path) -> None:
    report = ok(shelfware(world, tmp_path, "candidates", "advance", "--json"))
    ready = [c for c in world.candidates() if c["email"]]
    assert set(report["notified"]) == {c["id"] for c in ready} and report["due"] == []
    first = ready[0]
    assert len(world.mailbox.to(first["email"])) == 1

    shown = ok(shelfware(world, tmp_path, "candidates", "list", "--json"))
    row = next(c for c in shown if c["id"] == first["id"])
    assert row["state"] == "awaiting_user" and row["deadline_at"].startswith("2026-11-27")

    said = ok(shelfware(world, tmp_path, "candidates", "keep", str(first["id"])))
    assert "sent for approval" in said and "boss@corp.test" in said
    assert_one_line_error(
        shelfware(world, tmp_path, "candidates", "approve", str(ready[1]["id"])),
        "awaiting_user",
        "not awaiting_approval",
    )
    ok(shelfware(world, tmp_path, "candidates", "approve", str(first["id"])))
    assert world.candidate(first["id"]).approved_at == world.clock.now()
    assert_one_line_error(
        shelfware(world, tmp_path, "candidates", "reject", str(first["id"])), "approved"
    )
    # Approved: the next step reclaims it (a dry run first shows exactly that).
    dry = ok(shelfware(world, tmp_path, "candidates", "advance", "--dry-run", "--json"))
    assert dry["due"] == [first["id"]]
    assert [(o["candidate_id"], o["action"]) for o in dry["reclaim"]] == [
        (first["id"], "would_reclaim")
    ]
    assert not world.user(first).disabled
    done = ok(shelfware(world, tmp_path, "candidates", "advance", "--json"))
    assert [(o["candidate_id"], o["action"]) for o in done["reclaim"]] == [
        (first["id"], "reclaimed")
    ]
    assert world.user(first).disabled


def test_a_failed_delivery_leaves_the_candidate_unasked(world: World, tmp_path: Path) -> None:
    world.mailbox.port = 9  # nothing listens there
    ran = shelfware(world, tmp_path, "candidates", "advance")
    assert ran.code == 1 and "failed" in ran.stderr
    assert {c["state"] for c in world.candidates() if c["email"]} == {"ready"}
    with world.db.sessions() as s:
        assert s.query(AnswerLink).count() == 0
