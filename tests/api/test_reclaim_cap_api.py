"""The reclaim cap through the API: 60 one-seat calls in a row reclaim only what the window
allows (the 51st is refused, naming what the window holds); a bulk run over it is refused
before the first reclaim; only an admin forces it (403 for anyone else), audited with who,
why and what was exceeded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shelfware.accounts.roles import Role
from shelfware.models import AuditEvent
from shelfware.reclamation.service import list_candidates
from shelfware.sync.service import sync_profile
from tests.api.conftest import Api, error_of
from tests.helpers import published_rally

pytestmark = pytest.mark.store


def reclaimed(sandbox: Any) -> int:
    return sum(1 for u in sandbox.org.users if u.disabled)


async def test_sixty_one_seat_calls_stop_at_the_window(
    api: Api, client: httpx.AsyncClient, rally_factory: Any
) -> None:
    sandbox = rally_factory(users=600, seed=5)  # 10% of 600 seats is 60: the 50 accounts bind
    await published_rally(api.db, api.keys, api.clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(api.db, api.keys, api.clock, "rally")
    with api.db.sessions() as session:
        ready = [c.id for c in list_candidates(session, state="ready")]
    assert len(ready) >= 62
    manager, admin = api.auth(Role.SAM_MANAGER), api.auth(Role.ADMIN)
    before = reclaimed(sandbox)

    answers = [
        await client.post(f"/candidates/{cand}/reclaim", headers=manager) for cand in ready[:60]
    ]
    assert [r.status_code for r in answers] == [200] * 50 + [422] * 10, [
        r.text for r in answers if r.status_code != 200
    ][:1]
    assert {r.json()["action"] for r in answers[:50]} == {"reclaimed"}
    message = error_of(answers[50])["message"]
    assert "stopped before the first reclaim" in message
    assert "50 of the 50 allowed in the last 24 h already reclaimed" in message
    assert reclaimed(sandbox) == before + 50

    # in bulk, too
    bulk = await client.post("/candidates/reclaim", headers=manager, json={"all_ready": True})
    assert bulk.status_code == 422 and "already reclaimed" in error_of(bulk)["message"]

    # force: a manager is refused (403), an admin with a reason goes past it, audited
    body = {"ids": ready[60:62], "force": True, "reason": "end of the contract"}
    refused = await client.post("/candidates/reclaim", headers=manager, json=body)
    assert refused.status_code == 403, refused.text
    assert "only an admin may exceed the reclaim cap" in error_of(refused)["message"]
    one = await client.post(
        f"/candidates/{ready[60]}/reclaim",
        headers=manager,
        params={"force": True, "reason": "end of the contract"},
    )
    assert one.status_code == 403, one.text
    assert reclaimed(sandbox) == before + 50
    forced = await client.post("/candidates/reclaim", headers=admin, json=body)
    assert forced.status_code == 200, forced.text
    assert {o["action"] for o in forced.json()} == {"reclaimed"}
    assert reclaimed(sandbox) == before + 52
    with api.db.sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "reclaim.forced"))
    assert event.actor == "token:admin-token"
    assert event.detail["reason"] == "end of the contract"
    assert "50 of the 50 allowed" in event.detail["over_cap"]
    assert sorted(event.detail["candidates"]) == sorted(ready[60:62])

    # advance's force is the admin's too
    advance = await client.post(
        "/candidates/advance", headers=manager, json={"force": True, "reason": "x"}
    )
    assert advance.status_code == 403, advance.text
