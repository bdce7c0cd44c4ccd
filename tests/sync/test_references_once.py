"""A big first sync writes its subscriptions with their foreign keys checked once for the set
(kit/db.py `insert_checking_references_once`), against the Rally sandbox over real HTTP: every
account is linked to the person, model and profile it should be, none to a missing row."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.directory.service import canonical_email
from shelfware.kit import db as kit_db
from shelfware.models import IntegrationProfile, Person, SoftwareModel, Subscription
from shelfware.sync import service as sync_service
from shelfware.sync.service import BULK_ROWS, sync_profile
from tests.conftest import NOW
from tests.helpers import published_rally

pytestmark = pytest.mark.store
S = Subscription.__table__.c


async def test_a_big_first_sync_links_every_account_and_leaves_no_orphan(
    db, keys, clock, rally_factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    checked = kit_db.insert_checking_references_once

    def spy(*args: Any) -> int:
        calls.append(inserted := checked(*args))
        return inserted

    monkeypatch.setattr(sync_service, "insert_checking_references_once", spy)
    sandbox = rally_factory(users=BULK_ROWS + 200, seed=5)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    known = next(u for u in sandbox.org.users if u.email and "@" in u.email)
    with db.transaction() as session:  # a person the directory already had
        person = Person(email=canonical_email(known.email, {}), created_at=NOW)
        session.add(person)
        session.flush()
        known_id = person.id
    summary = await sync_profile(db, keys, clock, "rally")
    assert calls == [summary.created] and summary.created == len(sandbox.org.users)
    with db.engine.connect() as conn:
        rows = conn.execute(select(S.external_id, S.person_id, S.email)).all()
        people = dict(conn.execute(select(Person.id, Person.email)).all())
        models = set(conn.scalars(select(SoftwareModel.id)))
        profiles = set(conn.scalars(select(IntegrationProfile.id)))
        assert set(conn.scalars(select(S.software_model_id).distinct())) <= models
        assert set(conn.scalars(select(S.profile_id).distinct())) <= profiles
        assert conn.scalar(select(func.count()).select_from(Person)) == len(people)
    by_id = {external_id: person_id for external_id, person_id, _ in rows}
    assert by_id[str(known.object_id)] == known_id
    for _, person_id, email in rows:
        key = canonical_email(email, {}) if email else None
        if key is not None and "@" in key[1:-1]:  # what the sync takes for an email
            # linked, to the person of its email
            assert person_id is not None and people[person_id] == key
        else:
            assert person_id is None
