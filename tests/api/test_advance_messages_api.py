"""`POST /candidates/advance` over a synced Rally sandbox and a real SMTP server: a vendor
email that is not one address sets its candidate aside and shows in ``delivery_failed`` (by
candidate id), everyone else is asked once; an approver must be one valid address."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shelfware.accounts.roles import Role
from shelfware.models import RemovalCandidate, Subscription
from tests.api.conftest import Api, Synced, error_of, use_settings
from tests.reclamation.conftest import Mailbox, mailbox

pytestmark = pytest.mark.store
__all__ = ["mailbox"]


async def test_advance_reports_what_was_not_delivered_per_candidate(
    api: Api, client: httpx.AsyncClient, synced: Synced, mailbox: Mailbox, tmp_path: Path
) -> None:
    manager = api.auth(Role.SAM_MANAGER)
    use_settings(
        api,
        home=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_starttls=False,
        public_url="http://127.0.0.1:9",
    )
    hostile = await client.patch(
        "/rules",
        headers=manager,
        json={"model": synced.model, "add_approvers": ["boss@corp.test, evil@evil.test"]},
    )
    assert hostile.status_code == 422 and error_of(hostile)["field"].startswith("add_approvers")
    assert "evil" not in hostile.text
    rule = await client.patch(
        "/rules", headers=manager, json={"model": synced.model, "notify": True}
    )
    assert rule.status_code == 200, rule.text
    ready = [c for c in (await client.get("/candidates", headers=manager)).json() if c["email"]]
    bad = ready[0]["id"]
    with api.db.transaction() as s:
        sub = s.get_one(Subscription, s.get_one(RemovalCandidate, bad).subscription_id)
        sub.email = "x@corp.test\r\nBcc: evil@evil.test"

    advanced = await client.post("/candidates/advance", headers=manager)
    assert advanced.status_code == 200, advanced.text
    body = advanced.json()
    assert list(body["delivery_failed"]) == [str(bad)]
    assert body["delivery_failed"][str(bad)].startswith("no valid email address")
    assert body["needs_person"] == [bad] and body["chat_failed"] == []
    assert sorted(body["notified"]) == sorted(c["id"] for c in ready[1:])
    assert all(len(rcpts) == 1 and "evil" not in rcpts[0] for rcpts, _ in mailbox.messages)
    assert len(mailbox.messages) == len(ready) - 1
