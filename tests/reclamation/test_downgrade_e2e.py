"""Downgrades end to end: the Okta sandbox's SSO events give the activity intensity, the SCIM
sandbox holds the Zoom seats (`userType` Pro or Basic), a real SMTP server (aiosmtpd) receives
the notices, the links are followed over real HTTP, time moves through the injected clock, the
downgrade is a SCIM PATCH applied in the sandbox and the next sync shows the account in Basic.
The reclaim cap is shared with removals."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import AuditEvent, ReclaimLedgerEntry, RemovalCandidate, Subscription
from shelfware.notifications.service import Notifier
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import rules, workflow
from shelfware.reclamation.schemas import RuleChange
from shelfware.reclamation.service import CapExceeded, list_candidates, reclaim_candidates
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.okta import BUDGETS, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import SSO, generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from shelfware.settings import Settings
from shelfware.sync.service import sync_profile
from shelfware.web import answers
from tests.cli.conftest import Ran, assert_one_line_error, invoke
from tests.conftest import NOW
from tests.helpers import published
from tests.reclamation.conftest import NO_CAP, Mailbox, follow

pytestmark = pytest.mark.store

USERS, SEED = 60, 3
PRO, BASIC = "Zoom Zoom Pro", "Zoom Zoom Basic"
WINDOW = 30


@dataclass
class Zoom:
    db: Database
    keys: KeyRing
    clock: FrozenClock
    okta_org: Any
    scim: Any  # the SCIM sandbox's state
    tmp: Any

    async def sync(self) -> None:
        await sync_profile(self.db, self.keys, self.clock, "zoom")

    def settings(self, **values: Any) -> Settings:
        return Settings(home=self.tmp, **{**NO_CAP, **values})

    def candidates(self, action: str) -> list[Any]:
        with self.db.sessions() as s:
            return [c for c in list_candidates(s, now=self.clock.now()) if c.action == action]

    def candidate(self, cand_id: int) -> RemovalCandidate:
        with self.db.sessions() as s:
            return s.get_one(RemovalCandidate, cand_id)

    def active_days(self, login: str) -> int:
        """Days with a Zoom SSO of ``login`` in the window, restated from the Okta events."""
        zoom = self.okta_org.app_by_label("Zoom")
        start = (self.clock.now() - timedelta(days=WINDOW)).date()
        days = set()
        for event in self.okta_org.events:
            at = datetime.fromisoformat(event["published"])
            targets = {t["id"] for t in event["target"] if t["type"] == "AppInstance"}
            if (
                event["eventType"] == SSO
                and zoom.id in targets
                and at < NOW
                and event["actor"]["alternateId"].lower() == login.lower()
                and at.date() > start
            ):
                days.add(at.date())
        return len(days)

    def user(self, cand: Any) -> dict[str, Any]:
        return dict(self.scim.users[cand.external_id])

    def rule(self, **values: Any) -> None:
        with self.db.transaction() as s:
            rules.set_rule(s, self.clock, RuleChange(model=PRO, kind="downgrade", **values))


@pytest.fixture
async def zoom(db, keys, clock, tmp_path) -> AsyncIterator[Zoom]:  # type: ignore[no-untyped-def]
    okta_org = generate_okta_org(USERS, SEED, NOW)
    okta_app = create_okta_app(okta_org, limits=RateLimits(budgets=dict.fromkeys(BUDGETS, 10_000)))
    scim_app, scim_org = SANDBOXES["scim"](USERS, SEED, NOW, 0, FaultSpec())
    with serve_in_thread(okta_app) as okta_server, serve_in_thread(scim_app) as scim_server:
        await published(
            db,
            keys,
            clock,
            ProfileCreate(
                kind="okta", name="okta", url=okta_server.url, secrets={"api_key": okta_org.api_key}
            ),
        )
        await sync_profile(db, keys, clock, "okta")
        zoom_app = okta_org.app_by_label("Zoom")
        await published(
            db,
            keys,
            clock,
            ProfileCreate(
                kind="scim",
                name="zoom",
                url=f"{scim_server.url}/scim/v2",
                secrets={"api_key": scim_org.api_key},
                options={
                    "publisher": "Zoom",
                    "product": "Zoom",
                    "edition": "Pro",
                    "edition_attribute": "userType",
                    "activity_from": f"okta:{zoom_app.id}",
                },
            ),
        )
        world = Zoom(db, keys, clock, okta_org, scim_app.state.sandbox, tmp_path)
        await world.sync()
        with db.transaction() as s:
            for model, monthly in ((PRO, 20), (BASIC, 5)):
                add_entitlement(
                    s,
                    clock,
                    EntitlementCreate(
                        model=model, seats=100, unit_cost=monthly, billing_period="monthly"
                    ),
                )
        yield world


async def test_light_users_are_asked_moved_by_scim_patch_and_seen_in_basic(
    zoom: Zoom, mailbox: Mailbox
) -> None:
    zoom.rule(to_model=BASIC, max_active_days=6, window_days=WINDOW, notify=True)
    with zoom.db.sessions() as s:
        dry = rules.downgrade_dry_run(s, zoom.clock, PRO)
    assert dry.target_model == BASIC and dry.annual_saving_per_seat == 180.0
    assert dry.no_activity_data == 0  # Okta's SSO days cover the window
    assert dry.selections, "some Zoom Pro users sign in on fewer than 6 days a month"
    for row in dry.selections:  # intensity restated from the Okta sandbox's own events
        assert 1 <= zoom.active_days(row.username or "") < 6
        assert row.active_days == zoom.active_days(row.username or "")
    assert dry.idle > 0  # Pro seats nobody signed in to lately: for the removal rule

    await zoom.sync()  # the rule applies at the next sync
    proposed = zoom.candidates("downgrade")
    assert {c.external_id for c in proposed} == {
        r.external_id for r in dry.selections if r.selected and not r.open_candidate
    }
    assert all(c.potential_savings == 180.0 and c.target_model == BASIC for c in proposed)
    asked = [c for c in proposed if c.email and c.state == "ready"]
    assert len(asked) >= 2
    released, silent = asked[0], asked[1]

    with serve_in_thread(answers.app(zoom.db, zoom.keys, zoom.clock)) as server:
        settings = zoom.settings(
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_starttls=False,
            public_url=server.url,
        )
        notifier = Notifier(settings)
        first = await workflow.advance(zoom.db, zoom.keys, zoom.clock, notifier)
        assert {released.id, silent.id} <= set(first.notified)
        [notice] = mailbox.to(released.email)
        assert notice["Subject"] == f"Do you need {PRO}, or will {BASIC} do?"
        text = notice.get_body(("plain",)).get_content()
        assert f"we will move you to {BASIC}" in text and "released" not in text
        html = notice.get_body(("html",)).get_content()
        assert "Move me now" in html
        # "release" (move me now), followed over real HTTP
        link = mailbox.links(released.email)["release"]
        assert f"Move your account to {BASIC}?" in httpx.get(link).text
        answered = follow(link)
        assert answered.status_code == 200
        assert f"Moving: your account moves to {BASIC}" in answered.text
        moved = await workflow.advance(zoom.db, zoom.keys, zoom.clock, notifier)
        outcomes = {o.candidate_id: o for o in moved.reclaim}
        assert outcomes[released.id].action == "downgraded"
        assert zoom.user(released)["userType"] == "Basic"  # the PATCH, applied in the sandbox
        assert zoom.user(released)["active"] is True  # moved, not removed
        assert zoom.user(silent)["userType"] == "Pro"
        assert zoom.candidate(released.id).state == "awaiting_revocation"
        with zoom.db.sessions() as s:
            trail = [
                str(e.detail.get("why"))
                for e in s.scalars(
                    select(AuditEvent).where(
                        AuditEvent.object_type == "candidate",
                        AuditEvent.object_id == str(released.id),
                    )
                )
            ]
        assert "downgrade in flight: the app is being asked to move the account to Basic" in trail

        # the deadline passes without an answer: moved too
        zoom.clock.advance(timedelta(days=8))
        late = await workflow.advance(zoom.db, zoom.keys, zoom.clock, notifier)
        assert {o.candidate_id: o.action for o in late.reclaim}[silent.id] == "downgraded"
        assert zoom.user(silent)["userType"] == "Basic"

    # the next sync shows both accounts in Basic: complete, with the difference saved
    await zoom.sync()
    for cand in (released, silent):
        done = zoom.candidate(cand.id)
        assert done.state == "closed_complete"
        assert done.realised_saving is not None and float(done.realised_saving) == 180.0
        with zoom.db.sessions() as s:
            sub = s.get_one(Subscription, done.subscription_id)
            assert (sub.edition, sub.active, sub.gone_at) == ("Basic", True, None)
            assert profiles.get_profile(s, "zoom").id == sub.profile_id


async def test_downgrades_and_removals_share_one_reclaim_cap(zoom: Zoom) -> None:
    zoom.rule(to_model=BASIC, max_active_days=6, window_days=WINDOW, notify=False)
    await zoom.sync()
    [down, *_] = [c for c in zoom.candidates("downgrade") if c.state == "ready"]
    [gone, *_] = [c for c in zoom.candidates("remove") if c.state == "ready"]
    one = zoom.settings(reclaim_max_accounts=1, reclaim_max_percent=100)
    [outcome] = await reclaim_candidates(
        zoom.db, zoom.keys, zoom.clock, ids=[down.id], settings=one
    )
    assert outcome.action == "downgraded" and zoom.user(down)["userType"] == "Basic"
    with pytest.raises(CapExceeded, match="reclaim 1 account of Zoom Zoom Pro"):
        await reclaim_candidates(zoom.db, zoom.keys, zoom.clock, ids=[gone.id], settings=one)
    assert zoom.user(gone)["active"] is True
    with zoom.db.sessions() as s:
        ledger = s.scalars(select(ReclaimLedgerEntry.candidate_id)).all()
    assert ledger == [down.id]
    # and the other way round, once the window moved on
    zoom.clock.advance(timedelta(days=2))
    [outcome] = await reclaim_candidates(
        zoom.db, zoom.keys, zoom.clock, ids=[gone.id], settings=one
    )
    assert outcome.action == "reclaimed"
    others = [c for c in zoom.candidates("downgrade") if c.state == "ready"]
    if others:
        with pytest.raises(CapExceeded):
            await reclaim_candidates(
                zoom.db, zoom.keys, zoom.clock, ids=[others[0].id], settings=one
            )


def shelfware(zoom: Zoom, *args: str) -> Ran:
    env = {
        "SHELFWARE_DATABASE_URL": zoom.db.engine.url.render_as_string(hide_password=False),
        "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in zoom.keys.keys),
        "SHELFWARE_CLOCK": zoom.clock.now().isoformat(),
    }
    return invoke(zoom.tmp, *args, env=env)


async def test_the_cli_sets_the_rule_dry_runs_it_and_lists_the_moves(zoom: Zoom) -> None:
    ran = shelfware(
        zoom,
        "rules", "set", PRO,
        "--kind", "downgrade",
        "--to-model", BASIC,
        "--max-active-days", "6",
        "--window-days", str(WINDOW),
    )  # fmt: skip
    assert ran.code == 0, ran
    assert f"Downgrade rule for {PRO} updated" in ran.stdout
    listed = json.loads(shelfware(zoom, "rules", "list", "--json").stdout)
    [rule] = [r for r in listed if r["kind"] == "downgrade"]
    assert (rule["target_model"], rule["max_active_days"], rule["window_days"]) == (BASIC, 6, 30)
    assert "downgrade to" in shelfware(zoom, "rules", "list").stdout
    dry = shelfware(zoom, "rules", "dry-run", PRO, "--kind", "downgrade")
    assert dry.code == 0, dry
    said = " ".join(dry.stdout.split())
    assert "0 skipped: no activity-intensity data" in said and "accounts selected" in said
    as_json = json.loads(
        shelfware(zoom, "rules", "dry-run", PRO, "--kind", "downgrade", "--json").stdout
    )
    assert as_json["selections"] and as_json["annual_saving_per_seat"] == 180.0
    await zoom.sync()
    shown = shelfware(zoom, "candidates", "list", "--json")
    moves = [c for c in json.loads(shown.stdout) if c["action"] == "downgrade"]
    assert {c["external_id"] for c in moves} == {
        s["external_id"] for s in as_json["selections"] if not s["open_candidate"]
    }
    assert {c["target_model"] for c in moves} == {BASIC}
    assert "move to" in shelfware(zoom, "candidates", "list").stdout
    # a setting of a downgrade rule on the removal rule: one clear line, nothing written
    wrong = shelfware(zoom, "rules", "set", PRO, "--window-days", "3")
    assert_one_line_error(wrong, "belong to a downgrade rule")
