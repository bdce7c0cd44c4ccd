"""The last listings that read every row and sliced in Python now read keyset pages (issue 17):
the directory's unmatched accounts and leavers, a rule's dry run and a reviewer's items in an
access review. For each, on SQLite and PostgreSQL: walking the pages (service, API, web "More")
gives every row of the whole listing exactly once and in its order, over a store with more rows
than a page, several profiles and many ties on the leading sort key; the totals shown with a
page are the whole set's; and every statement that reads the listing carries a LIMIT of at most
the page and one more, however deep the page."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from html import unescape
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import event

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.directory import service as directory
from shelfware.kit.asgi import quote_segment
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, ReviewCampaign, ReviewItem, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import rules
from shelfware.reclamation.schemas import RuleChange
from shelfware.reviews import service as reviews
from tests.api.conftest import Api
from tests.web.conftest import PASSWORD, Web, csrf_of, web

pytestmark = pytest.mark.store
__all__ = ["web"]  # the fixture used here

ACCOUNTS = 140  # per profile: more than a page of every listing at the limits below
REVIEWER = "boss@acme.test"
MODEL = "Broadcom Rally Unlimited"


def seed(db: Database, keys: KeyRing, clock: FrozenClock) -> None:
    """Two profiles (named against their creation order) holding one model; people who left,
    people still here and accounts matching nobody; gone, idle, busy and kept seats."""
    rng = random.Random(17)
    now = clock.now()
    with db.transaction() as session:
        model = profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        profiles.ensure_default_rule(session, clock, model)
        made = [
            profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="rally",
                    name=name,
                    url="https://rally1.rallydev.com/slm/webservice",
                    secrets={"api_key": "k"},
                ),
            )
            for name in ("beta", "alpha")
        ]
        people = [
            Person(
                email=f"p{i % 7}x{i:03d}@acme.test",
                created_at=now,
                idp_status=status,
                idp_user_id=None if status is None else f"okta-{i}",
            )
            for i, status in enumerate(
                rng.choice(["DEPROVISIONED", "SUSPENDED", "ACTIVE", None]) for _ in range(60)
            )
        ]
        session.add_all(people)
        session.flush()
        for profile in made:
            for i in range(ACCOUNTS):
                owner = None if rng.random() < 0.4 else rng.choice(people)
                activity = rng.choice([None, now - timedelta(days=200), now - timedelta(days=2)])
                session.add(
                    Subscription(
                        profile_id=profile.id,
                        software_model_id=model.id,
                        external_id=f"{rng.randrange(1000):03d}-{i}",
                        username=f"user-{profile.name}-{i}",
                        email=None if owner is None else owner.email,
                        person_id=None if owner is None else owner.id,
                        active=rng.random() > 0.1,
                        admin=False,
                        edition="Unlimited",
                        first_seen_at=now - timedelta(days=400),
                        created_in_app_at=now - timedelta(days=400),
                        last_activity_at=activity,
                        gone_at=now - timedelta(days=1) if rng.random() < 0.1 else None,
                        kept_until=rng.choice([None, None, now + timedelta(days=30), now]),
                    )
                )


def seed_review(db: Database, clock: FrozenClock) -> int:
    """A campaign whose reviewer has more items than a page: few holders (many ties), some
    holders unknown, some decided; and items of another reviewer and their own seats."""
    rng = random.Random(4)
    now = clock.now()
    with db.transaction() as session:
        campaign = ReviewCampaign(
            name="Q4",
            scope_kind="profile",
            scope_value="alpha",
            reviewer_policy="email",
            reviewer_email=REVIEWER,
            owner="ciso@acme.test",
            created_by="test",
            created_at=now,
            due_at=now + timedelta(days=9),
        )
        session.add(campaign)
        session.flush()
        holders = [None, "ann@acme.test", "bob@acme.test", "cy@acme.test", REVIEWER]
        session.add_all(
            ReviewItem(
                campaign_id=campaign.id,
                holder=rng.choice(holders),
                username=f"u{i}",
                app=rng.choice(["Rally Unlimited", "Asana Business", "Zoom Pro"]),
                edition="x",
                annual_cost=Decimal("120"),
                reviewer=rng.choice([REVIEWER, REVIEWER, REVIEWER, "other@acme.test"]),
                decision=rng.choice([None, None, "keep"]),
            )
            for i in range(400)
        )
        accounts.create_user(
            session, clock, UserCreate(username=REVIEWER, password=PASSWORD, role=Role.VIEWER)
        )
        return campaign.id


def walk(fetch: Callable[[str | None], tuple[list[Any], str | None]], limit: int) -> list[Any]:
    """Every row of a paged listing, checking each page's size."""
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(10_000):
        rows, cursor = fetch(cursor)
        assert len(rows) <= limit
        seen += rows
        if cursor is None:
            return seen
        assert len(rows) == limit
    raise AssertionError("paging never ended")


@contextmanager
def statements(db: Database, marker: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements run meanwhile whose SQL holds ``marker`` (COUNTs aside)."""
    found: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if marker in statement and "count(" not in statement.lower():
            found.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


def assert_bounded(found: list[tuple[str, Any]], most: int) -> None:
    assert found
    for statement, params in found:
        assert "LIMIT" in statement.upper(), statement
        named = re.search(r"LIMIT %\((\w+)\)s", statement)
        limit = params[named.group(1)] if named else params[-2]  # SQLite: LIMIT ? OFFSET ?
        assert limit <= most, (statement, params)


# --------------------------------------------------------------------------- the directory


@pytest.mark.parametrize("limit", [1, 9, 100])
def test_unmatched_and_leavers_pages_hold_every_row_once(
    db: Database, keys: KeyRing, clock: FrozenClock, limit: int
) -> None:
    seed(db, keys, clock)
    with db.sessions() as session:
        unmatched = directory.unmatched_accounts(session)
        leavers = directory.leavers_holding_seats(session)
    assert len(unmatched) > 100 and len({u.profile for u in unmatched}) == 2
    assert len(leavers) > 50
    assert {u.reason for u in unmatched} == {
        "no email to match by",
        "nobody in the identity provider has this email",
    }

    def page_of(listing: Callable[..., Any]) -> Callable[[str | None], Any]:
        def fetch(cursor: str | None) -> Any:
            with db.sessions() as session:
                return listing(session, cursor, limit)

        return fetch

    assert walk(page_of(directory.unmatched_page), limit) == unmatched
    assert walk(page_of(directory.leavers_page), limit) == leavers


async def test_the_directory_api_pages_read_what_they_hold(
    api: Api, client: httpx.AsyncClient
) -> None:
    seed(api.db, api.keys, api.clock)
    with api.db.sessions() as session:
        whole = {
            "unmatched": [u.model_dump() for u in directory.unmatched_accounts(session)],
            "leavers": [u.model_dump() for u in directory.leavers_holding_seats(session)],
        }
    for name, expected in whole.items():
        seen: list[Any] = []
        url: str | None = f"/directory/{name}?limit=7"
        with statements(api.db, "FROM subscription") as found:
            while url:
                answer = await client.get(url, headers=api.auth(Role.VIEWER))
                assert answer.status_code == 200, answer.text
                seen += answer.json()
                cursor = answer.headers.get("x-next-cursor")
                url = f"/directory/{name}?limit=7&cursor={quote(cursor)}" if cursor else None
        assert seen == expected, name
        assert_bounded(found, 8)
        refused = await client.get(
            f"/directory/{name}", params={"cursor": "nope"}, headers=api.auth(Role.VIEWER)
        )
        assert 400 <= refused.status_code < 500


def test_the_cli_streams_the_same_listings(
    db: Database, keys: KeyRing, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``people unmatched|leavers --json``: the whole listing, read a page per session."""
    import json

    from shelfware.cli import directory as cli_directory
    from tests.cli.conftest import invoke

    seed(db, keys, clock)
    monkeypatch.setattr(cli_directory, "PAGE", 11)
    env = {
        "SHELFWARE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in keys.keys),
        "SHELFWARE_CLOCK": clock.now().isoformat(),
    }
    with db.sessions() as session:
        unmatched = [u.model_dump() for u in directory.unmatched_accounts(session)]
        leavers = [u.model_dump() for u in directory.leavers_holding_seats(session)]
    for name, expected in (("unmatched", unmatched), ("leavers", leavers)):
        result = invoke(tmp_path, "people", name, "--json", env=env)
        assert result.code == 0, result
        assert json.loads(result.stdout) == expected
        table = invoke(tmp_path, "people", name, env=env)
        assert table.code == 0, table
        assert expected[-1]["external_id"] in table.stdout


# --------------------------------------------------------------------------- a rule's dry run


def test_the_dry_run_pages_and_its_exact_counts(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    seed(db, keys, clock)
    with db.sessions() as session:
        whole = rules.dry_run(session, clock, MODEL)
    selected = sum(1 for r in whole if r.selected)
    assert len(whole) > 100 and 0 < selected < len(whole)
    assert [r.profile for r in whole] == sorted(r.profile for r in whole)  # alpha, then beta
    for limit in (1, 13, 500):

        def fetch(cursor: str | None, limit: int = limit) -> Any:
            with db.sessions() as session:
                return rules.dry_run_page(session, clock, MODEL, cursor, limit)

        assert walk(fetch, limit) == whole
    with db.transaction() as session:
        change = RuleChange(model=MODEL, kind="remove")
        first = rules.preview(session, clock, change, limit=20)
        with statements(db, "ORDER BY subscription.external_id") as found:
            deeper = rules.preview(session, clock, change, first.next_cursor, limit=20)
    assert_bounded(found, 21)
    for preview in (first, deeper):
        assert (preview.selected, preview.kept) == (selected, len(whole) - selected)
    assert first.accounts + deeper.accounts == whole[:40]


async def test_the_dry_run_api_pages(api: Api, client: httpx.AsyncClient) -> None:
    seed(api.db, api.keys, api.clock)
    with api.db.sessions() as session:
        whole = [r.model_dump(mode="json") for r in rules.dry_run(session, api.clock, MODEL)]
    path = f"/rules/{quote_segment(MODEL)}/dry-run"
    seen: list[Any] = []
    url: str | None = f"{path}?limit=30"
    with statements(api.db, "ORDER BY subscription.external_id") as found:
        while url:
            answer = await client.get(url, headers=api.auth(Role.VIEWER))
            assert answer.status_code == 200, answer.text
            seen += answer.json()
            assert int(answer.headers["x-total-selected"]) + int(
                answer.headers["x-total-kept"]
            ) == len(whole)
            cursor = answer.headers.get("x-next-cursor")
            url = f"{path}?limit=30&cursor={quote(cursor)}" if cursor else None
    assert seen == whole
    assert_bounded(found, 31)


ROW = re.compile(r"<tr><td>(alpha|beta)</td><td>(user-[^<]+)")


def test_the_rule_preview_shows_a_page_and_more(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(web.store.db, web.store.keys, web.clock)
    monkeypatch.setattr(rules, "DRY_RUN_PAGE", 40)
    with web.store.db.sessions() as session:
        whole = rules.dry_run(session, web.clock, MODEL)
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)
    client.post("/sign-in", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    first = client.get(f"/rules/{quote_segment(MODEL)}/preview")
    assert first.status_code == 200, first.text
    selected = sum(1 for r in whole if r.selected)
    assert f'<strong id="preview-count">{selected}</strong>' in first.text
    assert f"of {len(whole)} shown" in first.text
    seen = ROW.findall(first.text)
    assert len(seen) == rules.DRY_RUN_PAGE < len(whole)
    more = re.search(r'hx-get="([^"]+)"', first.text.split('class="more"')[1])
    while more:
        answer = client.get(unescape(more.group(1)), headers={"hx-request": "true"})
        assert answer.status_code == 200
        assert "preview-summary" not in answer.text  # the rows only
        seen += ROW.findall(answer.text)
        more = re.search(r'hx-get="([^"]+)"', answer.text)
    assert seen == [(r.profile, r.username) for r in whole]


# --------------------------------------------------------------------------- a reviewer's items


def test_a_reviewers_items_page_once_each_with_exact_counts(
    db: Database, clock: FrozenClock
) -> None:
    campaign = seed_review(db, clock)
    with db.sessions() as session:
        whole = reviews.my_items(session, campaign, REVIEWER)
        undecided = reviews.my_items(session, campaign, REVIEWER, undecided=True)
        counts = reviews.my_counts(session, campaign, REVIEWER)
    assert len(whole) > 200 and all(i.holder != REVIEWER for i in whole)
    assert counts == (len(whole), len(undecided))
    assert whole[0].holder is None  # nobody's seats first, on both stores
    for limit, wanted in ((1, False), (17, True), (300, False)):

        def fetch(cursor: str | None, limit: int = limit, wanted: bool = wanted) -> Any:
            with db.sessions() as session:
                return reviews.my_items_page(
                    session, campaign, REVIEWER, undecided=wanted, cursor=cursor, limit=limit
                )

        assert walk(fetch, limit) == (undecided if wanted else whole)


async def test_a_reviewers_api_pages_read_what_they_hold(
    api: Api, client: httpx.AsyncClient
) -> None:
    campaign = seed_review(api.db, api.clock)
    with api.db.transaction() as session:
        token = accounts.create_token(
            session, api.clock, TokenCreate(name="boss", role=Role.VIEWER, owner=REVIEWER)
        )[0]
        whole = [i.model_dump(mode="json") for i in reviews.my_items(session, campaign, REVIEWER)]
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[Any] = []
    url: str | None = "/reviews/Q4/mine?limit=25"
    with statements(api.db, "FROM review_item") as found:
        while url:
            answer = await client.get(url, headers=headers)
            assert answer.status_code == 200, answer.text
            seen += answer.json()
            cursor = answer.headers.get("x-next-cursor")
            url = f"/reviews/Q4/mine?limit=25&cursor={quote(cursor)}" if cursor else None
    assert seen == whole
    assert_bounded(found, 26)


ITEM = re.compile(r'<tr id="item-(\d+)">')


def test_the_reviewers_page_shows_a_page_and_more(web: Web) -> None:
    campaign = seed_review(web.store.db, web.clock)
    with web.store.db.sessions() as session:
        whole = reviews.my_items(session, campaign, REVIEWER)
        undecided = sum(1 for i in whole if i.decision is None)
    client = web.client()
    token = csrf_of(client.get("/sign-in").text)
    client.post("/sign-in", data={"username": REVIEWER, "password": PASSWORD, "csrf_token": token})
    with statements(web.store.db, "FROM review_item") as found:
        first = client.get("/reviews/Q4/mine")
    assert first.status_code == 200, first.text
    assert_bounded(found, reviews.MINE_PAGE + 1)
    assert f'<strong id="undecided">{undecided}</strong>' in first.text
    assert f"of {len(whole)} seats shown" in first.text
    seen = [int(i) for i in ITEM.findall(first.text)]
    assert len(seen) == reviews.MINE_PAGE
    more = re.search(r'id="review-more"><a [^>]*hx-get="([^"]+)"', first.text)
    while more:
        answer = client.get(unescape(more.group(1)), headers={"hx-request": "true"})
        assert answer.status_code == 200
        assert 'id="undecided"' not in answer.text  # the sections only
        seen += [int(i) for i in ITEM.findall(answer.text)]
        more = re.search(r'id="review-more"><a [^>]*hx-get="([^"]+)"', answer.text)
    assert seen == [i.id for i in whole]
