"""Microsoft 365 people carry Graph's `department` ($select), over real HTTP against the
Microsoft 365 sandbox, through the real sync: stored on the person like Okta's (cleaned),
people without one have none."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person
from shelfware.sync.service import sync_profile
from tests.connectors.test_microsoft365 import M365, m365, publish  # noqa: F401

pytestmark = pytest.mark.store


async def test_departments_from_microsoft_365(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    m365: M365,  # noqa: F811
) -> None:
    users = m365.tenant.users
    for i, user in enumerate(users):
        user.department = ("Finance", "Legal\x00 ", None)[i % 3]
    await publish(db, keys, clock, m365)
    summary = await sync_profile(db, keys, clock, "m365")
    assert summary.people is not None
    with db.sessions() as s:
        stored = {p.idp_user_id: p.department for p in s.scalars(select(Person))}
    expected = {u.id: ("Finance", "Legal", None)[i % 3] for i, u in enumerate(users)}
    assert {k: v for k, v in stored.items() if k in expected} == expected
