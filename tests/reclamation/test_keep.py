"""A seat its user or an approver chose to keep does not come straight back (issue 15): it is
exempt from new removal candidates for the rule's ``keep_days``, through a threshold change and
re-syncs against the Rally sandbox (real HTTP), and every face says "kept until DATE"."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.models import AuditEvent, Person, Subscription
from shelfware.reclamation import rules, workflow
from shelfware.reclamation.schemas import RuleChange
from shelfware.serve import create_app
from shelfware.store import Store
from shelfware.subscriptions.schemas import SubscriptionQuery
from shelfware.subscriptions.service import list_subscriptions
from tests.cli.conftest import assert_one_line_error
from tests.reclamation.conftest import MODEL, World, follow
from tests.reclamation.test_cli import ok, shelfware
from tests.web.conftest import PASSWORD, csrf_of

pytestmark = pytest.mark.store

OPEN = ("ready", "awaiting_user", "awaiting_approval", "awaiting_revocation", "attention_required")


def set_rule(world: World, **change: Any) -> None:
    with world.db.transaction() as s:
        rules.set_rule(s, world.clock, RuleChange(model=MODEL, **change))


def open_of(world: World, external_id: str) -> list[dict[str, Any]]:
    return [c for c in world.candidates() if c["external_id"] == external_id and c["state"] in OPEN]


def kept_until(world: World, external_id: str) -> datetime | None:
    with world.db.sessions() as s:
        return s.query(Subscription).filter_by(external_id=external_id).one().kept_until


async def keep_two(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two idle seats kept: one by its approver (reject), one by its user (no approval)."""
    ready = [c for c in world.candidates("ready") if c["email"]]
    by_approver, by_user = ready[0], ready[1]
    await world.advance()
    sent = follow(world.mailbox.links(by_approver["email"])["keep"])
    assert "sent for approval" in sent.text
    with world.db.transaction() as s:
        said = workflow.decide(s, world.clock, by_approver["id"], "reject", actor="cli:boss")
    assert "kept until" in said, said
    set_rule(world, approval_required=False)
    kept = follow(world.mailbox.links(by_user["email"])["keep"])
    assert kept.status_code == 200 and "kept until" in kept.text, kept.text
    for cand in (by_approver, by_user):
        assert world.candidate(cand["id"]).state == "closed_skipped"
    return by_approver, by_user


async def test_a_kept_seat_stays_kept_through_a_threshold_change_and_a_resync(
    world: World,
) -> None:
    with world.db.sessions() as s:
        [rule] = rules.list_rules(s)
    assert rule.keep_days == 90  # the default
    set_rule(world, keep_days=30)
    kept_at = world.clock.now()
    by_approver, by_user = await keep_two(world)
    for cand in (by_approver, by_user):
        assert kept_until(world, cand["external_id"]) == kept_at + timedelta(days=30)
    with world.db.sessions() as s:
        trail = {
            (e.object_id, e.actor, e.detail["why"])
            for e in s.query(AuditEvent).filter_by(action="candidate.kept")
        }
    why = f"kept until {kept_at + timedelta(days=30):%Y-%m-%d}: no new removal candidate"
    assert {(i, a) for i, a, w in trail if w.startswith(why)} == {
        (str(by_approver["id"]), "cli:boss"),
        (str(by_user["id"]), f"link:{by_user['email']}"),
    }

    # The rule gets much stricter, the kept users' names change in the app (so the re-sync
    # rewrites their rows), a day passes, and the profile is synced again over HTTP.
    before = len(world.candidates())
    set_rule(world, threshold_days=10)
    for cand in (by_approver, by_user):
        world.user(cand).display_name = "Renamed " + cand["external_id"]
    world.sandbox.state.reload_users()
    world.clock.advance(timedelta(days=1))
    await world.sync()
    assert len(world.candidates()) > before, "the stricter threshold selects more seats"
    for cand in (by_approver, by_user):
        assert open_of(world, cand["external_id"]) == [], cand
        assert kept_until(world, cand["external_id"]) == kept_at + timedelta(days=30)
    with world.db.sessions() as s:
        names = {
            v.external_id: v.display_name
            for v in list_subscriptions(s, SubscriptionQuery(profile="rally"))
        }
    assert names[by_user["external_id"]] == "Renamed " + by_user["external_id"]

    # Another sync just before the keep runs out: still nothing.
    world.clock.set(kept_at + timedelta(days=30) - timedelta(minutes=1))
    await world.sync()
    assert open_of(world, by_user["external_id"]) == []

    # Once keep_days passed, the still idle seats can be candidates again; the keep is gone.
    world.clock.set(kept_at + timedelta(days=30, minutes=1))
    await world.sync()
    for cand in (by_approver, by_user):
        [again] = open_of(world, cand["external_id"])
        assert again["id"] != cand["id"] and again["kept_until"] is None
        assert kept_until(world, cand["external_id"]) is None


async def test_a_kept_seat_of_a_person_who_left_is_no_candidate_until_the_keep_ends(
    world: World,
) -> None:
    """A keep is a person's decision: not even the 'left the organisation' path brings the
    seat straight back. (The identity provider's status is written as its import would.)"""
    set_rule(world, keep_days=5)
    by_approver, _ = await keep_two(world)
    control = next(c for c in world.candidates() if c["email"] and c["state"] == "awaiting_user")
    with world.db.transaction() as s:
        for cand in (by_approver, control):
            sub = s.query(Subscription).filter_by(external_id=cand["external_id"]).one()
            assert sub.person_id is not None
            s.get_one(Person, sub.person_id).idp_status = "DEPROVISIONED"
    world.clock.advance(timedelta(days=1))
    await world.sync()
    assert [c["justification"] for c in open_of(world, control["external_id"])] == [
        "left the organisation"
    ]
    assert open_of(world, by_approver["external_id"]) == []
    world.clock.advance(timedelta(days=5))
    await world.sync()
    [again] = open_of(world, by_approver["external_id"])
    assert again["justification"] == "left the organisation"


async def test_every_face_says_kept_until(world: World, tmp_path: Path) -> None:
    kept_at = world.clock.now()
    by_approver, by_user = await keep_two(world)
    until = f"{kept_at + timedelta(days=90):%Y-%m-%d}"
    world.clock.advance(timedelta(days=1))

    # CLI: rules set/list, the dry run, candidates list, subscriptions list
    home = tmp_path / "cli"
    ok(shelfware(world, home, "rules", "set", MODEL, "--keep-days", "120"))
    [rule] = ok(shelfware(world, home, "rules", "list", "--json"))
    assert rule["keep_days"] == 120
    assert "Keep days" in ok(shelfware(world, home, "rules", "list"))
    for bad in ("0", "3651", "x"):
        assert_one_line_error(shelfware(world, home, "rules", "set", MODEL, "--keep-days", bad))
    # the threshold, lowered, would select the kept seats: the dry run lists them as kept
    ok(shelfware(world, home, "rules", "set", MODEL, "--threshold-days", "10"))
    dry = ok(shelfware(world, home, "rules", "dry-run", MODEL, "--json"))
    kept_rows = {r["external_id"]: r for r in dry if not r["selected"]}
    assert set(kept_rows) == {by_approver["external_id"], by_user["external_id"]}
    assert all(r["kept_until"].startswith(until) for r in kept_rows.values())
    selected = sum(1 for r in dry if r["selected"])
    table = ok(shelfware(world, home, "rules", "dry-run", MODEL))
    assert f"kept until {until}" in table
    assert f"{selected} accounts selected; 2 kept" in table.replace("\n", " ")
    listed = ok(shelfware(world, home, "candidates", "list", "--state", "closed_skipped"))
    assert listed.count(f"kept until {until}") == 2, listed
    as_json = ok(shelfware(world, home, "candidates", "list", "--json"))
    assert {c["id"] for c in as_json if c["kept_until"]} == {by_approver["id"], by_user["id"]}
    subs = ok(shelfware(world, home, "subscriptions", "list", "--json"))
    assert sum(1 for s in subs if s["kept_until"]) == 2
    seats = ok(
        shelfware(world, home, "report", "people", "--person", by_user["email"], "--format", "json")
    )
    assert [r["kept_until"][:10] for r in seats] == [until]

    # API: PATCH /rules keep_days (range checked), the dry run, candidates
    with world.db.transaction() as s:
        token = accounts.create_token(
            s, world.clock, TokenCreate(name="mgr", role=Role.SAM_MANAGER)
        )[0]
        accounts.create_user(
            s, world.clock, UserCreate(username="viewer", password=PASSWORD, role=Role.VIEWER)
        )
    app = create_app(store=Store(db=world.db, keys=world.keys), clock=world.clock)
    auth = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api:
        patched = await api.patch("/rules", json={"model": MODEL, "keep_days": 45}, headers=auth)
        assert patched.status_code == 200, patched.text
        assert patched.json()["rule"]["keep_days"] == 45
        assert patched.json()["changes"] == {"keep_days": [120, 45]}
        for bad in (0, 3651, "ninety"):
            refused = await api.patch(
                "/rules", json={"model": MODEL, "keep_days": bad}, headers=auth
            )
            assert refused.status_code == 422, (bad, refused.text)
        dry_api = (await api.get(f"/rules/{MODEL}/dry-run", headers=auth)).json()
        assert dry_api == dry
        cands = (await api.get("/candidates", headers=auth)).json()
        assert {c["id"] for c in cands if c["kept_until"]} == {by_approver["id"], by_user["id"]}

    # Web: the candidates page and the subscriptions page
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as web:
        token = csrf_of(web.get("/sign-in").text)
        signed = web.post(
            "/sign-in", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 303, signed.text
        page = web.get("/candidates", params={"state": "closed_skipped"}).text
        assert page.count(f"kept until {until}") == 2
        for cand in (by_approver, by_user):
            found = web.get("/subscriptions", params={"search": cand["username"]}).text
            assert f"kept until {until}" in found, cand
