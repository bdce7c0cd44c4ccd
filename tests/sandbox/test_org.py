"""The synthetic organisation generator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from shelfware.sandbox.org import (
    BOUNDARY_DAYS,
    BOUNDARY_GAP,
    PERMISSIONS,
    SyntheticUser,
    generate_org,
    index_by_object_id,
)


def test_same_seed_same_org(now: datetime) -> None:
    assert generate_org(500, 42, now) == generate_org(500, 42, now)


def test_other_seed_other_org(now: datetime) -> None:
    a, b = generate_org(500, 42, now), generate_org(500, 43, now)
    assert [u.username for u in a.users] != [u.username for u in b.users]
    assert a.api_key != b.api_key


def test_dates_move_with_now(now: datetime) -> None:
    later = now + timedelta(days=3)
    a, b = generate_org(200, 5, now), generate_org(200, 5, later)
    assert [u.creation_date + timedelta(days=3) for u in a.users] == [
        u.creation_date for u in b.users
    ]


def test_rejects_naive_now_and_empty_org() -> None:
    with pytest.raises(ValueError):
        generate_org(10, 1, datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        generate_org(0, 1, datetime(2025, 1, 1, tzinfo=UTC))


def test_object_ids_unique_increasing_not_contiguous(now: datetime) -> None:
    org = generate_org(1000, 3, now)
    ids = [u.object_id for u in org.users]
    assert ids == sorted(set(ids))
    steps = {b - a for a, b in pairwise(ids)}
    assert steps <= {1, 2, 3, 4, 5} and len(steps) > 1
    assert len({u.username for u in org.users}) == 1000
    assert len({u.object_uuid for u in org.users}) == 1000
    assert org.by_id == index_by_object_id(org.users)
    assert org.user(ids[7]) is org.users[7]
    assert org.user(1) is None


def test_owner_is_an_enabled_recent_subscription_admin(now: datetime) -> None:
    for seed in range(5):
        org = generate_org(100, seed, now)
        owner = org.owner
        assert owner.object_id == min(u.object_id for u in org.users)
        assert owner.subscription_admin and not owner.disabled
        assert owner.permission == "Subscription Admin"
        assert owner.last_activity is not None
        assert now - owner.last_activity < timedelta(days=3)
        assert org.api_key.startswith("_")


def test_mix_is_roughly_right(now: datetime) -> None:
    org = generate_org(5000, 9, now)
    n = len(org.users)

    def share(pred: Callable[[SyntheticUser], bool]) -> float:
        return sum(1 for u in org.users if pred(u)) / n

    def idle_days(u: SyntheticUser) -> float | None:
        last = u.last_activity
        return None if last is None else (now - last) / timedelta(days=1)

    enabled = [u for u in org.users if not u.disabled]
    assert 0.06 < share(lambda u: u.disabled) < 0.10
    assert 0.02 < share(lambda u: u.subscription_admin) < 0.04
    active = share(lambda u: not u.disabled and (d := idle_days(u)) is not None and d < 30)
    assert 0.43 < active < 0.53  # ~45% + the new accounts that already logged in
    assert 0.13 < share(lambda u: not u.disabled and 30 < (idle_days(u) or 0) < 60) < 0.17
    assert 0.18 < share(lambda u: not u.disabled and 60 < (idle_days(u) or 0) < 366) < 0.22
    never = [u for u in enabled if u.last_activity is None]
    assert 0.08 < len(never) / n < 0.12
    assert any(now - u.creation_date < timedelta(days=60) for u in never)
    assert any(now - u.creation_date > timedelta(days=60) for u in never)
    assert 0.04 < share(lambda u: now - u.creation_date < timedelta(days=20)) < 0.08
    assert all(u.creation_date <= now for u in org.users)


def test_boundary_gap_holds(now: datetime) -> None:
    org = generate_org(5000, 17, now)
    for u in org.users:
        for d in (u.creation_date, u.last_login_date, u.last_active_date):
            if d is None:
                continue
            assert d <= now
            for days in BOUNDARY_DAYS:
                assert abs(now - timedelta(days=days) - d) >= BOUNDARY_GAP, (u, days)


def test_activity_dates_differ_so_max_matters(now: datetime) -> None:
    users = generate_org(2000, 4, now).users
    with_both = [u for u in users if u.last_login_date and u.last_active_date]
    assert any(u.last_login_date > u.last_active_date for u in with_both)  # type: ignore[operator]
    assert any(u.last_active_date > u.last_login_date for u in with_both)  # type: ignore[operator]
    assert any(u.last_login_date is None and u.last_active_date for u in users)
    assert any(u.last_active_date is None and u.last_login_date for u in users)
    for u in users:
        dates = [d for d in (u.last_login_date, u.last_active_date) if d]
        assert u.last_activity == (max(dates) if dates else None)
        assert all(u.creation_date <= d for d in dates)


def test_identity_fields(now: datetime) -> None:
    users = generate_org(3000, 8, now).users
    assert all("@" in u.username and u.username == u.username.lower() for u in users)
    emails = [u.email for u in users]
    assert sum(u.email == u.username for u in users) > 0.85 * len(users)
    assert any(u.email and u.email != u.username and u.email.lower() == u.username for u in users)
    assert None in emails and "" in emails
    assert {u.permission for u in users} == set(PERMISSIONS)
    assert all((u.permission == "Subscription Admin") == u.subscription_admin for u in users)
    assert any(u.display_name == "" for u in users)
