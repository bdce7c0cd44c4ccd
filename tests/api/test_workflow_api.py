"""The reclamation workflow through the API, over a synced Rally sandbox and a real SMTP
server: the blast-radius cap (refused, forced with a reason), advance (dry run, then real),
the answers and decisions one by one and in bulk (all or nothing), illegal transitions as
409s naming the states, rules' every setting and their dry run; all audited by token."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.models import AuditEvent
from shelfware.reclamation.service import list_candidates
from tests.api.conftest import Api, Synced, error_of, use_settings
from tests.reclamation.conftest import Mailbox, mailbox

pytestmark = pytest.mark.store
__all__ = ["mailbox"]


def states(api: Api) -> dict[int, str]:
    with api.db.sessions() as session:
        return {c.id: c.state for c in list_candidates(session)}


async def test_the_workflow_through_the_api(
    api: Api, client: httpx.AsyncClient, synced: Synced, mailbox: Mailbox, tmp_path: Path
) -> None:
    manager, viewer = api.auth(Role.SAM_MANAGER), api.auth(Role.VIEWER)
    seen: list[str] = []

    async def call(method: str, path: str, who: dict[str, str] = manager, **kw: Any) -> Any:
        response = await client.request(method, path, headers=who, **kw)
        seen.append(response.text)
        return response

    use_settings(
        api,
        home=tmp_path,
        reclaim_max_accounts=1,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_starttls=False,
        public_url="http://127.0.0.1:9",
    )
    ready = [c for c in (await call("GET", "/candidates", viewer)).json() if c["email"]]
    assert len(ready) >= 8, "the sandbox has idle users"
    ids = [c["id"] for c in ready]

    # the blast-radius cap: refused before the first reclaim, forced only with a reason
    before = states(api)
    over = await call("POST", "/candidates/reclaim", json={"ids": ids[:2], "dry_run": True})
    assert over.status_code == 422 and "cap" in error_of(over)["message"], over.text
    unexplained = await call("POST", "/candidates/reclaim", json={"ids": ids[:2], "force": True})
    assert unexplained.status_code == 422 and "reason" in error_of(unexplained)["message"]
    assert states(api) == before
    faults = synced.sandbox.state.faults  # the app refuses to disable the second account
    synced.sandbox.state.faults = replace(faults, fail_reclaim=int(ready[1]["external_id"]))
    by_manager = await call(  # only an admin exceeds the cap
        "POST",
        "/candidates/reclaim",
        json={"ids": ids[:2], "force": True, "reason": "offboarding wave"},
    )
    assert by_manager.status_code == 403, by_manager.text
    assert "only an admin" in error_of(by_manager)["message"]
    assert states(api) == before
    forced = await call(
        "POST",
        "/candidates/reclaim",
        json={"ids": ids[:2], "force": True, "reason": "offboarding wave"},
        who=api.auth(Role.ADMIN),
    )
    assert forced.status_code == 200, forced.text
    outcomes = {o["candidate_id"]: o["action"] for o in forced.json()}
    assert outcomes == {ids[0]: "reclaimed", ids[1]: "failed"}
    assert synced.sandbox.org.by_id[int(ready[0]["external_id"])].disabled
    assert states(api)[ids[1]] == "attention_required"
    fixed = await call("POST", f"/candidates/{ids[1]}/retry")  # a person looked into it
    assert fixed.status_code == 200 and fixed.json()["candidate"]["state"] == "ready", fixed.text
    assert fixed.json()["candidate"]["last_error"] is None
    one = await call("POST", f"/candidates/{ids[2]}/reclaim", params={"dry_run": True})
    assert one.status_code == 422, one.text  # the window holds the two forced: no room left
    assert "2 of the 1 allowed in the last 24 h already reclaimed" in error_of(one)["message"]

    # rules: notify, approval by a named approver, then advance asks the users
    rule = await call(
        "PATCH",
        "/rules",
        json={
            "model": synced.model,
            "notify": True,
            "approval_required": True,
            "auto_reclaim_days": 7,
            "add_approvers": ["boss@corp.test"],
        },
    )
    assert rule.status_code == 200 and rule.json()["rule"]["approvers"] == ["boss@corp.test"]
    waiting = ids[1:]
    dry = await call("POST", "/candidates/advance", json={"dry_run": True})
    assert dry.status_code == 200 and dry.json()["dry_run"] is True, dry.text
    assert states(api) == {**before, ids[0]: "awaiting_revocation"}
    assert (await call("POST", "/candidates/advance", viewer)).status_code == 403
    advanced = await call("POST", "/candidates/advance")
    assert advanced.status_code == 200, advanced.text
    assert set(waiting) <= set(advanced.json()["notified"])
    assert mailbox.to(ready[2]["email"]), "the user was asked by email"
    assert {states(api)[i] for i in waiting} == {"awaiting_user"}

    # decisions one by one: an illegal transition is a 409 naming the states, nothing changes
    early = await call("POST", f"/candidates/{waiting[0]}/approve")
    assert early.status_code == 409
    assert "awaiting_user, not awaiting_approval" in error_of(early)["message"]
    kept = await call("POST", f"/candidates/{waiting[0]}/keep")
    assert kept.status_code == 200, kept.text
    assert kept.json()["candidate"]["state"] == "awaiting_approval"
    assert "boss@corp.test" in kept.json()["result"]
    approved = await call("POST", f"/candidates/{waiting[0]}/approve")
    assert approved.json()["candidate"]["approved_at"] is not None, approved.text
    again = await call("POST", f"/candidates/{waiting[0]}/approve")
    assert again.status_code == 409 and "already approved" in error_of(again)["message"]
    await call("POST", f"/candidates/{waiting[1]}/keep")
    rejected = await call("POST", f"/candidates/{waiting[1]}/reject")
    assert rejected.json()["candidate"]["state"] == "closed_skipped"
    released = await call("POST", f"/candidates/{waiting[2]}/release")
    assert released.json()["candidate"]["answer"] == "release"
    retried = await call("POST", f"/candidates/{waiting[3]}/retry")
    assert retried.status_code == 409 and "cannot become ready" in error_of(retried)["message"]
    assert (await call("POST", "/candidates/999999/keep")).status_code == 404
    assert (await call("POST", f"/candidates/{waiting[3]}/keep", viewer)).status_code == 403

    # in bulk: every one or none
    snapshot = states(api)
    mixed = {"action": "keep", "ids": [waiting[3], waiting[0]]}
    refused = await call("POST", "/candidates/actions", json=mixed)
    assert refused.status_code == 409 and str(waiting[0]) in error_of(refused)["message"]
    assert states(api) == snapshot
    bad = await call("POST", "/candidates/actions", json={"action": "delete", "ids": [1]})
    assert bad.status_code == 422 and error_of(bad)["field"] == "action"
    bulk = await call(
        "POST", "/candidates/actions", json={"action": "keep", "ids": [*waiting[3:5], waiting[3]]}
    )
    assert bulk.status_code == 200, bulk.text
    assert [(a["candidate"]["id"], a["candidate"]["state"]) for a in bulk.json()] == [
        (waiting[3], "awaiting_approval"),
        (waiting[4], "awaiting_approval"),
    ]
    declined = await call(
        "POST", "/candidates/actions", json={"action": "reject", "ids": waiting[3:5]}
    )
    assert {a["candidate"]["state"] for a in declined.json()} == {"closed_skipped"}

    # every write audited with the token that made it
    with api.db.sessions() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.object_id, AuditEvent.detail)
        ).all()
    mine = {(a, o) for a, actor, o, _ in events if actor == "token:sam_manager-token"}
    assert ("candidate.approved", str(waiting[0])) in mine
    assert ("candidate.awaiting_approval", str(waiting[4])) in mine
    assert ("candidate.closed_skipped", str(waiting[1])) in mine
    assert ("candidate.released", str(waiting[2])) in mine
    [(forced_by, forced_event)] = [(who, d) for a, who, _, d in events if a == "reclaim.forced"]
    assert forced_by == "token:admin-token" and forced_event["reason"] == "offboarding wave"
    assert synced.sandbox.org.api_key not in "\n".join(seen)


async def test_rules_every_setting_and_the_dry_run(
    api: Api, client: httpx.AsyncClient, synced: Synced
) -> None:
    manager, viewer = api.auth(Role.SAM_MANAGER), api.auth(Role.VIEWER)
    path = f"/rules/{synced.model}/dry-run"
    selected = (await client.get(path, headers=viewer)).json()
    assert selected and all(s["profile"] == "rally" for s in selected)
    assert {s["open_candidate"] for s in selected} == {"ready"}
    first = selected[0]
    change = {
        "model": synced.model,
        "exclude_users": [first["username"]],
        "exclude_domains": ["contractors.test"],
        "exclude_groups": ["finance"],
        "exclude_patterns": ["svc-*"],
        "add_approvers": ["boss@corp.test"],
        "new_account_grace": False,
        "active": False,
        "threshold_days": 30,
    }
    assert (await client.patch("/rules", headers=viewer, json=change)).status_code == 403
    changed = await client.patch("/rules", headers=manager, json=change)
    assert changed.status_code == 200, changed.text
    rule = changed.json()["rule"]
    assert rule["excluded_users"] == [first["username"].lower()]
    assert rule["excluded_domains"] == ["contractors.test"]
    assert rule["excluded_groups"] == ["finance"]
    assert rule["service_account_patterns"] == ["svc-*"]
    assert rule["approvers"] == ["boss@corp.test"]
    assert (rule["new_account_grace"], rule["active"], rule["threshold_days"]) == (False, False, 30)
    assert set(changed.json()["changes"]) == {
        "excluded_users",
        "excluded_domains",
        "excluded_groups",
        "service_account_patterns",
        "approvers",
        "new_account_grace",
        "active",
        "threshold_days",
    }
    now = (await client.get(path, headers=viewer)).json()
    assert first["external_id"] not in {s["external_id"] for s in now}
    back = await client.patch(
        "/rules",
        headers=manager,
        json={
            "model": synced.model,
            "include_users": [first["username"]],
            "remove_approvers": ["boss@corp.test"],
        },
    )
    assert back.json()["rule"]["excluded_users"] == [] and back.json()["rule"]["approvers"] == []
    missing = await client.get("/rules/Nope Nothing/dry-run", headers=viewer)
    assert missing.status_code == 404 and "Nope Nothing" in error_of(missing)["message"]
    blank = await client.patch(
        "/rules", headers=manager, json={"model": synced.model, "exclude_users": [" "]}
    )
    assert blank.status_code == 422 and error_of(blank)["field"] == "exclude_users.0"
