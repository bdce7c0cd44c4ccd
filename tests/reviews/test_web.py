"""The reviewer's page in the workspace: after sign-in, a reviewer sees and decides only their
own items (never another reviewer's, never their own seat); the signed link of their email
does the same without a sign-in, and a forged or altered link opens nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shelfware.accounts import service as accounts
from shelfware.accounts.schemas import UserCreate
from shelfware.kit.db import Database
from shelfware.reviews import links
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate
from tests.conftest import NOW
from tests.reviews.conftest import Org, by_holder
from tests.web.conftest import PASSWORD, Web, csrf_of, web

pytestmark = pytest.mark.store
__all__ = ["web"]


def sign_in(web: Web, username: str) -> tuple[object, str]:
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)
    answer = client.post(
        "/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return client, csrf_of(client.get("/reviews").text)


def campaign(db: Database, web: Web) -> tuple[int, dict]:
    with db.transaction() as session:
        for email, role in (("boss@acme.test", "viewer"), ("ceo@acme.test", "sam_manager")):
            accounts.create_user(
                session, web.clock, UserCreate(username=email, password=PASSWORD, role=role)
            )
        made = reviews.create_campaign(
            session,
            web.clock,
            CampaignCreate(
                name="Q4",
                scope="department=Sales",
                due=NOW + timedelta(days=5),
                owner="ciso@acme.test",
            ),
        )
        items = by_holder(reviews.report_rows(session, made.id))
    return made.id, items


def test_signed_in_reviewers_see_and_decide_only_their_items(
    web: Web, db: Database, org: Org
) -> None:
    cid, items = campaign(db, web)
    boss, boss_csrf = sign_in(web, "boss@acme.test")
    ceo, ceo_csrf = sign_in(web, "ceo@acme.test")
    page = boss.get(f"/reviews/{cid}/mine")  # type: ignore[attr-defined]
    assert page.status_code == 200
    assert "ann@acme.test" in page.text and "bob@acme.test" in page.text
    assert "boss@acme.test</h2>" not in page.text  # boss's own seats are ceo's to review
    assert boss.get(f"/reviews/{cid}").status_code == 403  # type: ignore[attr-defined]
    listing = boss.get("/reviews").text  # type: ignore[attr-defined]
    assert "Q4" in listing and "Start a campaign" not in listing
    own = items[("boss@acme.test", "Rally")].id
    ann = items[("ann@acme.test", "Rally")].id
    # boss on their own seat, ceo on boss's item: refused, nothing written
    for client, token, item in ((boss, boss_csrf, own), (ceo, ceo_csrf, ann)):
        answer = client.post(  # type: ignore[attr-defined]
            f"/reviews/{cid}/mine",
            data={"csrf_token": token, "item": str(item), "decision": "keep"},
        )
        assert answer.status_code == 403 and "not yours" in answer.text
    done = boss.post(  # type: ignore[attr-defined]
        f"/reviews/{cid}/mine",
        data={"csrf_token": boss_csrf, "item": str(ann), "decision": "revoke", "reason": "gone"},
    )
    assert done.status_code == 303
    with db.sessions() as session:
        now = by_holder(reviews.report_rows(session, cid))
    assert (
        now[("ann@acme.test", "Rally")].decision,
        now[("boss@acme.test", "Rally")].decision,
    ) == (
        "revoke",
        None,
    )


def test_the_signed_link_opens_one_reviewers_items_only(web: Web, db: Database, org: Org) -> None:
    cid, items = campaign(db, web)
    token = links.token_for(web.store.keys, cid, "boss@acme.test", web.clock.now())
    visitor = web.client()
    page = visitor.get(f"/review?t={token}")
    assert page.status_code == 200 and "ann@acme.test" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    csrf = csrf_of(page.text)
    answer = visitor.post(
        f"/review?t={token}",
        data={"csrf_token": csrf, "holder": "bob@acme.test", "decision": "keep"},
    )
    assert answer.status_code == 303
    # the same link cannot reach ceo's items (boss's own seat)
    refused = visitor.post(
        f"/review?t={token}",
        data={
            "csrf_token": csrf,
            "item": str(items[("boss@acme.test", "Rally")].id),
            "decision": "keep",
        },
    )
    assert refused.status_code == 403
    cid_part, who, issued, tag = token.split(".")
    ceo = links._encode("ceo@acme.test")
    for forged in (
        f"{cid_part}.{ceo}.{issued}.{tag}",
        f"{cid_part}.{who}.{issued}.{'y' if tag[0] == 'x' else 'x'}{tag[1:]}",  # one letter off
        "1.2",
    ):
        assert visitor.get(f"/review?t={forged}").status_code == 403
    web.clock.advance(timedelta(days=5 + 15))  # a fortnight past the due date
    assert visitor.get(f"/review?t={token}").status_code == 403
    with db.sessions() as session:
        decided = {k: i.decision for k, i in by_holder(reviews.report_rows(session, cid)).items()}
    assert decided[("bob@acme.test", "Rally")] == decided[("bob@acme.test", "Roadmunk")] == "keep"
    assert decided[("boss@acme.test", "Rally")] is None
