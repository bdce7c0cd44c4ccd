"""The synthetic Okta organisation: deterministic, complete, and clear of the idle boundaries."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from shelfware.sandbox import generate_org
from shelfware.sandbox.okta_filter import parse_time
from shelfware.sandbox.okta_org import (
    SESSION_START,
    SSO,
    STATUSES,
    generate_okta_org,
)
from shelfware.sandbox.org import BOUNDARY_DAYS, BOUNDARY_GAP


def test_same_seed_same_org_and_another_seed_differs(now: datetime) -> None:
    a, b = generate_okta_org(120, 3, now), generate_okta_org(120, 3, now)
    assert [u.id for u in a.users] == [u.id for u in b.users]
    assert a.events == b.events
    assert {k: list(v) for k, v in a.assignments.items()} == {
        k: list(v) for k, v in b.assignments.items()
    }
    assert [u.id for u in generate_okta_org(120, 4, now).users] != [u.id for u in a.users]


def test_every_status_and_profile(now: datetime) -> None:
    org = generate_okta_org(300, 1, now)
    statuses = Counter(u.status for u in org.users)
    assert set(statuses) == set(STATUSES)
    assert statuses["ACTIVE"] > len(org.users) // 2
    for user in org.users:
        assert user.id.startswith("00u") and len(user.id) == 20
        assert user.login and user.email == user.email.lower() and user.display_name
    assert org.users[0].status == "ACTIVE" and org.users[0].id == org.owner_id
    assert sum(u.manager_id is not None for u in org.users) > len(org.users) // 2


def test_same_people_as_the_rally_org_of_the_seed(now: datetime) -> None:
    rally = generate_org(80, 5, now)
    okta = generate_okta_org(80, 5, now)
    assert [u.login for u in okta.users] == [u.username for u in rally.users]
    for person, user in zip(rally.users, okta.users, strict=True):
        if person.disabled:
            assert user.status in ("DEPROVISIONED", "SUSPENDED")


def test_apps_groups_and_assignment_scopes(now: datetime) -> None:
    org = generate_okta_org(300, 1, now)
    labels = {a.label: a for a in org.apps}
    assert {"Zoom", "Slack", "Rally", "Asana"} <= set(labels)
    assert [a.label for a in org.apps if a.status == "INACTIVE"] == ["Legacy Wiki"]
    by_id = {u.id: u for u in org.users}
    for app in org.apps:
        seats = org.assignments[app.id]
        assert seats, app.label
        assert org.owner_id in seats and seats[org.owner_id].scope == "USER"
        for seat in seats.values():
            assert by_id[seat.user_id].status != "DEPROVISIONED"
            if seat.scope == "GROUP":
                group = org.group(seat.group_id or "")
                assert group is not None and seat.user_id in group.members
                assert group.id in app.groups
    scopes = Counter(s.scope for seats in org.assignments.values() for s in seats.values())
    assert scopes["USER"] > 0 and scopes["GROUP"] > 0


def test_events_span_retention_and_avoid_the_boundaries(now: datetime) -> None:
    org = generate_okta_org(300, 1, now)
    kinds = Counter(e["eventType"] for e in org.events)
    assert kinds[SSO] > 300 and kinds[SESSION_START] > kinds[SSO]
    ages = [(now - parse_time(e["published"])) / timedelta(days=1) for e in org.events]
    assert min(ages) > 0
    assert any(a > 90 for a in ages) and any(a < 30 for a in ages)
    gap = BOUNDARY_GAP / timedelta(days=1)
    sso_ages = [a for a, e in zip(ages, org.events, strict=True) if e["eventType"] == SSO]
    assert all(abs(a - d) >= gap - 1e-6 for a in sso_ages for d in BOUNDARY_DAYS)
    keys = [(e["published"], e["uuid"]) for e in org.events]
    assert keys == sorted(keys)
    latest: dict[str, str] = {}
    for event in org.events:
        if event["eventType"] == SESSION_START:
            latest[event["actor"]["id"]] = event["published"]
    assert latest
    for user in org.users:  # lastLogin is the latest Okta sign-in
        assert user.last_login == (parse_time(latest[user.id]) if user.id in latest else None)
    for event in org.events:
        if event["eventType"] == SSO:
            assert [t["type"] for t in event["target"]] == ["AppInstance", "AppUser"]
            app = org.app(event["target"][0]["id"])
            assert app is not None
            assert event["actor"]["id"] in org.assignments[app.id]


def test_bad_arguments(now: datetime) -> None:
    with pytest.raises(ValueError, match="at least one user"):
        generate_okta_org(0, 1, now)
    with pytest.raises(ValueError, match="aware"):
        generate_okta_org(5, 1, now.replace(tzinfo=None))
