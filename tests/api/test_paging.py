"""Keyset paging of subscriptions: walking every page gives each row once, in the documented
order (NULLs first, ties by id, all reversed when descending), with every filter, on SQLite
and PostgreSQL; a cursor from another sort is refused."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.subscriptions import service
from shelfware.subscriptions.schemas import SubscriptionPageQuery, SubscriptionSort

pytestmark = pytest.mark.store


@pytest.fixture
def seeded(db: Database, keys: KeyRing, clock: FrozenClock) -> Database:
    rng = random.Random(7)
    now = clock.now()
    with db.transaction() as session:
        model = profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        profile_ids = [
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
            ).id
            for name in ("a", "b")
        ]
        people = [Person(email=f"p{i}@x.test", created_at=now) for i in range(30)]
        session.add_all(people)
        session.flush()
        for i in range(157):
            session.add(
                Subscription(
                    profile_id=rng.choice(profile_ids),
                    software_model_id=model.id,
                    external_id=f"u{i}",
                    username=rng.choice([None, "ann", "bob", f"user{i:03d}", "zed"]),
                    email=f"user{i}@x.test",
                    active=rng.random() > 0.1,
                    admin=rng.random() < 0.2,
                    edition="Unlimited",
                    last_activity_at=rng.choice(
                        [None, now - timedelta(days=rng.choice([1, 30, 90, 400]))]
                    ),
                    first_seen_at=now,
                    gone_at=now if rng.random() < 0.1 else None,
                    person_id=rng.choice([None, *[p.id for p in people]]),
                )
            )
    return db


def walk(db: Database, limit: int, **query: Any) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    for _ in range(1000):
        with db.sessions() as session:
            page = service.page_subscriptions(
                session, SubscriptionPageQuery(limit=limit, cursor=cursor, **query)
            )
        assert len(page.items) <= limit
        rows += page.items
        cursor = page.next_cursor
        if cursor is None:
            return rows
        assert len(page.items) == limit
    raise AssertionError("paging did not end")


def expected(db: Database, sort: str, descending: bool, keep: Any) -> list[int]:
    with db.sessions() as session:
        from shelfware.subscriptions.schemas import SubscriptionQuery

        everything = service.list_subscriptions(session, SubscriptionQuery(all=True))
    chosen = [s for s in everything if keep(s)]

    def key(s: Any) -> tuple[Any, ...]:
        value = getattr(s, sort)
        return (value is not None, value if value is not None else 0, s.id)

    ordered = sorted(chosen, key=key if sort != "id" else lambda s: s.id)
    return [s.id for s in (reversed(ordered) if descending else ordered)]


@pytest.mark.parametrize("sort", list(SubscriptionSort))
@pytest.mark.parametrize("descending", [False, True])
def test_every_page_in_order_once(
    seeded: Database, sort: SubscriptionSort, descending: bool
) -> None:
    got = [s.id for s in walk(seeded, 7, sort=sort, descending=descending)]
    assert got == expected(seeded, sort.value, descending, lambda s: s.active and s.gone_at is None)


def test_filters(seeded: Database, clock: FrozenClock) -> None:
    since = clock.now() - timedelta(days=60)
    got = walk(
        seeded,
        5,
        all=True,
        admin=False,
        q="USER1",
        idle_since=since,
        profile="a",
        sort=SubscriptionSort.LAST_ACTIVITY,
    )
    want = expected(
        seeded,
        "last_activity_at",
        False,
        lambda s: (
            not s.admin
            and any(v.lower().startswith("user1") for v in (s.username or "", s.email or ""))
            and (s.last_activity_at is None or s.last_activity_at < since)
            and s.profile == "a"
        ),
    )
    assert want and [s.id for s in got] == want
    assert walk(seeded, 50, q="%") == walk(seeded, 50, q="_") == []  # characters, not patterns
    assert {s.username for s in walk(seeded, 500, q="ZE")} == {"zed"}
    assert {s.software_model for s in walk(seeded, 500, model="Broadcom Rally Unlimited")} == {
        "Broadcom Rally Unlimited"
    }
    with pytest.raises(LookupError), seeded.sessions() as session:
        service.page_subscriptions(session, SubscriptionPageQuery(model="Nope"))


def test_a_cursor_belongs_to_its_sort(seeded: Database) -> None:
    with seeded.sessions() as session:
        page = service.page_subscriptions(
            session, SubscriptionPageQuery(limit=3, sort=SubscriptionSort.USERNAME)
        )
        assert page.next_cursor
        with pytest.raises(service.CursorError, match="another sort"):
            service.page_subscriptions(
                session, SubscriptionPageQuery(limit=3, cursor=page.next_cursor)
            )
        for bad in ("", "x", "W10", "WyJpZCIsZmFsc2UsbnVsbCwiMSJd"):
            with pytest.raises(service.CursorError):
                service.page_subscriptions(session, SubscriptionPageQuery(cursor=bad or "!"))


def test_people_pages(seeded: Database) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        with seeded.sessions() as session:
            page = service.page_people(session, cursor=cursor, limit=4)
        seen += [p.id for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 30
    with seeded.sessions() as session:
        person, subs = service.get_person(session, seen[0])
        assert person.subscriptions == sum(1 for s in subs if s.active and s.gone_at is None)
        assert all(s.person_id == seen[0] for s in subs)
