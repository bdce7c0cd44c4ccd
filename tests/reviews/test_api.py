"""The reviews API and its role matrix: campaign managers run campaigns; a reviewer (any
role, by their user or their token's owner) sees and decides only their own items, never
another reviewer's, never their own seat."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.kit.db import Database
from tests.api.conftest import Api, api, client, error_of
from tests.conftest import NOW
from tests.reclamation.conftest import Mailbox
from tests.reviews.conftest import Org
from tests.reviews.test_schedule import mailbox, notifier

pytestmark = pytest.mark.store
__all__ = ["api", "client", "mailbox"]  # the fixtures used here


def person_token(db: Database, api: Api, email: str, role: Role) -> dict[str, str]:
    with db.transaction() as session:
        accounts.create_user(
            session, api.clock, UserCreate(username=email, password="correct horse 1", role=role)
        )
        token = accounts.create_token(
            session, api.clock, TokenCreate(name=email.split("@")[0], role=role, owner=email)
        )[0]
    return {"Authorization": f"Bearer {token}"}


async def test_reviewers_see_and_decide_only_their_items(
    api: Api, client: httpx.AsyncClient, org: Org
) -> None:
    made = await client.post(
        "/reviews",
        json={
            "name": "Q4",
            "scope": "department=Sales",
            "due": (NOW + timedelta(days=9)).isoformat(),
            "owner": "ciso@acme.test",
        },
        headers=api.auth(Role.SAM_MANAGER),
    )
    assert made.status_code == 201, made.text
    refused = await client.post(
        "/reviews",
        json={"name": "x", "scope": "department=Sales", "due": NOW.isoformat()},
        headers=api.auth(Role.VIEWER),
    )
    assert refused.status_code == 403
    boss = person_token(api.db, api, "boss@acme.test", Role.VIEWER)
    ceo = person_token(api.db, api, "ceo@acme.test", Role.SAM_MANAGER)
    mine = (await client.get("/reviews/Q4/mine", headers=boss)).json()
    assert {i["holder"] for i in mine} == {"ann@acme.test", "bob@acme.test"}
    ceo_items = (await client.get("/reviews/Q4/mine", headers=ceo)).json()
    assert {i["holder"] for i in ceo_items} == {"boss@acme.test"}  # boss's own seats
    # a viewer reviewer cannot read the whole campaign (others' items)
    assert (await client.get("/reviews/Q4/report", headers=boss)).status_code == 403
    # nor decide another reviewer's item (ceo's), nor, as ceo, boss's item... nor their own
    boss_seat = ceo_items[0]["id"]
    ann_seat = mine[0]["id"]
    for headers, item in ((boss, boss_seat), (ceo, ann_seat)):
        answer = await client.post(
            f"/reviews/Q4/items/{item}/decision", json={"decision": "keep"}, headers=headers
        )
        assert answer.status_code == 403 and "not yours" in error_of(answer)["message"]
    # an admin token without an owner reviews as nobody
    admin = await client.post(
        f"/reviews/Q4/items/{ann_seat}/decision",
        json={"decision": "keep"},
        headers=api.auth(Role.ADMIN),
    )
    assert admin.status_code == 403
    # and a manager cannot hand boss's own seat to boss
    own = await client.post(
        f"/reviews/Q4/items/{boss_seat}/reassign",
        json={"to": "boss@acme.test"},
        headers=api.auth(Role.SAM_MANAGER),
    )
    assert own.status_code == 422 and "own seat" in error_of(own)["message"]
    no_reason = await client.post(
        f"/reviews/Q4/items/{ann_seat}/decision", json={"decision": "revoke"}, headers=boss
    )
    assert no_reason.status_code == 422 and "reason" in error_of(no_reason)["message"]
    done = await client.post(
        f"/reviews/Q4/items/{ann_seat}/decision",
        json={"decision": "revoke", "reason": "left the team"},
        headers=boss,
    )
    assert done.status_code == 200 and done.json()["decision"] == "revoke", done.text
    bulk = await client.post(
        "/reviews/Q4/decisions", json={"holder": "bob@acme.test", "decision": "keep"}, headers=boss
    )
    assert [i["decision"] for i in bulk.json()] == ["keep", "keep"]
    shown = (await client.get("/reviews/Q4", headers=api.auth(Role.SAM_MANAGER))).json()
    progress = {p["reviewer"]: p["decided"] for p in shown["progress"]}
    assert progress["boss@acme.test"] == 3
    closed = await client.post("/reviews/Q4/close", headers=api.auth(Role.SAM_MANAGER))
    assert closed.status_code == 200
    late = await client.post(
        f"/reviews/Q4/items/{mine[1]['id']}/decision", json={"decision": "keep"}, headers=boss
    )
    assert late.status_code == 409 and "closed" in error_of(late)["message"]
    report = await client.get("/reviews/Q4/report?format=csv", headers=api.auth(Role.ADMIN))
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert len(rows) == 8 and sum(r["decision"] == "revoke" for r in rows) == 1
    assert report.headers["content-type"].startswith("text/csv")


async def test_a_reassigned_item_has_its_new_reviewer_emailed_at_once(
    api: Api, client: httpx.AsyncClient, org: Org, mailbox: Mailbox, tmp_path: Path
) -> None:
    """As in the workspace: the reviewer an item is passed on to (by its reviewer, or by the
    campaign's manager) is emailed a signed link to their items when the change is committed
    (a real SMTP server); a refused reassignment sends nothing."""
    api.app.state.workspace.extras["settings"] = notifier(tmp_path, mailbox).settings
    made = await client.post(
        "/reviews",
        json={
            "name": "Q4",
            "scope": "department=Sales",
            "due": (NOW + timedelta(days=9)).isoformat(),
            "owner": "ciso@acme.test",
        },
        headers=api.auth(Role.SAM_MANAGER),
    )
    assert made.status_code == 201, made.text
    boss = person_token(api.db, api, "boss@acme.test", Role.VIEWER)
    mine = {
        i["holder"]: i["id"] for i in (await client.get("/reviews/Q4/mine", headers=boss)).json()
    }
    own = await client.post(
        f"/reviews/Q4/items/{mine['ann@acme.test']}/reassign",
        json={"to": "ann@acme.test"},
        headers=api.auth(Role.SAM_MANAGER),
    )
    assert own.status_code == 422 and mailbox.messages == []
    passed = await client.post(
        f"/reviews/Q4/items/{mine['ann@acme.test']}/decision",
        json={"decision": "reassign", "to": "dan@acme.test"},
        headers=boss,
    )
    assert passed.status_code == 200 and passed.json()["reviewer"] == "dan@acme.test", passed.text
    assert [rcpt for rcpt, _ in mailbox.messages] == [["dan@acme.test"]]
    given = await client.post(
        f"/reviews/Q4/items/{mine['bob@acme.test']}/reassign",
        json={"to": "Eve@Acme.test"},
        headers=api.auth(Role.SAM_MANAGER),
    )
    assert given.status_code == 200 and given.json()["reviewer"] == "eve@acme.test", given.text
    assert [rcpt for rcpt, _ in mailbox.messages] == [["dan@acme.test"], ["eve@acme.test"]]
    body = mailbox.to("eve@acme.test")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "http://reviews.test/review?t=" in body
