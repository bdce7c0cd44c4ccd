"""SCIM apps give accounts, not people: the enterprise extension's `department` and
`costCenter` are kept on the account (over real HTTP against the SCIM sandbox, through the
real sync, cleaned like any vendor text) and the chargeback uses them for seats whose person
has no department of their own (override, else identity provider), which wins otherwise."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from shelfware.directory import service as directory
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import Person, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reports import service as reports
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.scim import ENTERPRISE_SCHEMA
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile
from tests.conftest import NOW

pytestmark = pytest.mark.store


async def test_scim_enterprise_departments_charge_seats_of_people_without_one(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, org = SANDBOXES["scim"](60, 4, NOW, 0, FaultSpec())
    users = app.state.sandbox.users
    odd = next(uid for uid, r in users.items() if ENTERPRISE_SCHEMA in r and r["active"])
    users[odd][ENTERPRISE_SCHEMA]["department"] = "Legal\x00 "
    with serve_in_thread(app) as server:
        with db.transaction() as session:
            profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="scim",
                    name="zoom-scim",
                    url=f"{server.url}/scim/v2",
                    secrets={"api_key": org.api_key},
                    options={"publisher": "Zoom", "product": "Zoom", "edition": "Pro"},
                ),
            )
        assert (await profiles.validate_profile(db, keys, clock, "zoom-scim")).ok
        with db.transaction() as session:
            profiles.publish_profile(session, clock, profiles.get_profile(session, "zoom-scim"))
        await sync_profile(db, keys, clock, "zoom-scim")

    def expected(uid: str) -> str | None:
        extension = users[uid].get(ENTERPRISE_SCHEMA)
        return None if extension is None else extension["department"].replace("\x00", "").strip()

    with db.sessions() as s:
        stored = {sub.external_id: sub.department for sub in s.scalars(select(Subscription))}
    assert stored == {uid: expected(uid) for uid in users}
    assert stored[odd] == "Legal" and None in stored.values()

    with db.transaction() as s:
        licensing.add_entitlement(
            s, clock, EntitlementCreate(model="Zoom Zoom Pro", seats=60, unit_cost=Decimal(100))
        )
    held = Counter(expected(uid) or "unknown" for uid, r in users.items() if r["active"])

    def departments() -> dict[str, int]:
        with db.sessions() as s:
            report = reports.chargeback(s, NOW)
        rows = [r for r in report.rows if r.row_type == "model"]
        total = sum(Decimal(str(r.annual_cost)) for r in rows)
        assert total == Decimal(6000)
        return {r.group: r.seats for r in rows if r.group_kind != "unassigned"}

    assert departments() == held
    # the person's own department (identity provider, then override) wins over the app's
    email = next(
        r["emails"][0]["value"] for uid, r in users.items() if uid == odd and r.get("emails")
    )
    with db.transaction() as s:
        person = directory.find_person(s, email)
        s.execute(update(Person).where(Person.id == person.id).values(department="Finance"))
    got = departments()
    assert got["Finance"] == 1 and got.get("Legal", 0) == held["Legal"] - 1
    with db.transaction() as s:
        directory.set_charging(s, clock, person.id, {"department": "Ops"})
    got = departments()
    assert got["Ops"] == 1 and "Finance" not in got
