"""Keyset pages of the removal candidates queue: each page reads what it holds (a LIMIT in
SQL, counted on the rows the database hands back), walking the pages gives every candidate
exactly once in the queue's order with many ties on the sort key, on SQLite and PostgreSQL;
the API keeps its plain-list answer and gives the next page's cursor in headers; a cursor of
another listing is refused (4xx)."""

from __future__ import annotations

import json
import random
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from shelfware.accounts.roles import Role
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import CandidateState, RemovalCandidate, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import service
from shelfware.subscriptions import service as subscriptions
from shelfware.subscriptions.schemas import SubscriptionPageQuery
from tests.api.conftest import Api, error_of

pytestmark = pytest.mark.store

COUNT = 230


def seed(db: Database, keys: KeyRing, clock: FrozenClock, count: int = COUNT) -> None:
    rng = random.Random(5)
    now = clock.now()
    with db.transaction() as session:
        model = profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        profile = profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(
                kind="rally",
                name="r",
                url="https://rally1.rallydev.com/slm/webservice",
                secrets={"api_key": "k"},
            ),
        )
        subs = [
            Subscription(
                profile_id=profile.id,
                software_model_id=model.id,
                external_id=f"u{i}",
                username=f"user{i}",
                email=f"user{i}@x.test",
                active=True,
                admin=False,
                edition="Unlimited",
                first_seen_at=now,
            )
            for i in range(count)
        ]
        session.add_all(subs)
        session.flush()
        states = [CandidateState.READY, CandidateState.CLOSED_SKIPPED]
        session.add_all(
            RemovalCandidate(
                subscription_id=sub.id,
                profile_id=profile.id,
                software_model_id=model.id,
                state=rng.choice(states).value,
                justification="low_usage",
                # few distinct values: many ties on the sort key, and NULLs in both columns
                potential_savings=rng.choice([None, Decimal("120"), Decimal("99.5"), None]),
                inactive_days=rng.choice([None, 30, 90, 90]),
                created_at=now,
                updated_at=now,
            )
            for sub in subs
        )


def walk(db: Database, limit: int, **query: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(10_000):
        with db.sessions() as session:
            page = service.page_candidates(session, cursor=cursor, limit=limit, **query)
        assert len(page.items) <= limit
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen
        assert len(page.items) == limit
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("limit", [1, 7, 50, 500])
def test_every_candidate_exactly_once_in_the_queue_order(
    db: Database, keys: KeyRing, clock: FrozenClock, limit: int
) -> None:
    seed(db, keys, clock)
    with db.sessions() as session:
        everything = [c.id for c in service.list_candidates(session)]
    assert len(everything) == COUNT
    assert walk(db, limit) == everything
    with db.sessions() as session:
        ready = [c.id for c in service.list_candidates(session, state="ready")]
    assert 0 < len(ready) < COUNT
    assert walk(db, limit, state="ready") == ready


async def test_a_page_reads_what_it_holds(api: Api, client: httpx.AsyncClient) -> None:
    """The listing read and shaped every candidate, then sliced: now every statement that
    reads the queue carries a LIMIT of at most the page + 1, however deep the page."""
    seed(api.db, api.keys, api.clock, count=300)
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM removal_candidate" in statement and "count(" not in statement.lower():
            statements.append((statement, params))

    event.listen(api.db.engine, "before_cursor_execute", seen)
    try:
        first = await client.get("/candidates?limit=5", headers=api.auth(Role.VIEWER))
        cursor = first.headers["x-next-cursor"]
        deeper = await client.get(
            "/candidates", params={"limit": 5, "cursor": cursor}, headers=api.auth(Role.VIEWER)
        )
    finally:
        event.remove(api.db.engine, "before_cursor_execute", seen)
    assert first.status_code == deeper.status_code == 200
    assert len(first.json()) == len(deeper.json()) == 5
    assert statements
    for statement, params in statements:
        assert "LIMIT" in statement.upper(), statement
        named = re.search(r"LIMIT %\((\w+)\)s", statement)
        limit = params[named.group(1)] if named else params[-2]  # SQLite: LIMIT ? OFFSET ?
        assert limit <= 6, (statement, params)


async def test_the_api_pages_and_keeps_its_plain_list(api: Api, client: httpx.AsyncClient) -> None:
    seed(api.db, api.keys, api.clock)
    seen: list[int] = []
    url: str | None = "/candidates?limit=40"
    while url:
        response = await client.get(url, headers=api.auth(Role.VIEWER))
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body, list)
        seen += [c["id"] for c in body]
        cursor = response.headers.get("x-next-cursor")
        url = f"/candidates?limit=40&cursor={cursor}" if cursor else None
        if cursor:
            assert 'rel="next"' in response.headers["link"]
    with api.db.sessions() as session:
        assert seen == [c.id for c in service.list_candidates(session)]


async def test_a_cursor_of_another_listing_is_refused(api: Api, client: httpx.AsyncClient) -> None:
    seed(api.db, api.keys, api.clock)
    with api.db.sessions() as session:
        other = subscriptions.page_subscriptions(
            session, SubscriptionPageQuery(limit=1, all=True)
        ).next_cursor
        mine = service.page_candidates(session, limit=1).next_cursor
    assert other and mine
    for cursor in (other, "not-a-cursor", mine[:-3] + "xyz", "\x00"):
        response = await client.get(
            "/candidates", params={"cursor": cursor}, headers=api.auth(Role.VIEWER)
        )
        assert 400 <= response.status_code < 500, (cursor, response.text)
        error_of(response)
    # and a candidates cursor is no subscriptions cursor either
    response = await client.get(
        "/subscriptions", params={"cursor": mine}, headers=api.auth(Role.VIEWER)
    )
    assert 400 <= response.status_code < 500


def test_the_cli_table_with_a_limit_reads_one_page(
    db: Database, keys: KeyRing, clock: FrozenClock, tmp_path: Any
) -> None:
    """``candidates list --limit N``: the first N of the queue (one page, not the whole queue
    sliced), with "N of total"; ``--json`` still gives every candidate."""
    from tests.cli.conftest import invoke

    seed(db, keys, clock)
    env = {
        "SHELFWARE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "SHELFWARE_SECRET_KEYS": ",".join(k.decode() for k in keys.keys),
        "SHELFWARE_CLOCK": clock.now().isoformat(),
    }
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM removal_candidate" in statement and "count(" not in statement.lower():
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)  # the command opens its own engine
    try:
        table = invoke(tmp_path, "candidates", "list", "--limit", "3", env=env)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert table.code == 0, table
    assert statements and all("LIMIT" in s.upper() for s in statements), statements
    assert f"3 of {COUNT}" in table.stdout
    everything = invoke(tmp_path, "candidates", "list", "--json", env=env)
    assert everything.code == 0, everything
    with db.sessions() as session:
        assert [c["id"] for c in json.loads(everything.stdout)] == [
            c.id for c in service.list_candidates(session)
        ]
