"""A SCIM profile end to end through the real services: create, validate, publish, sync; the
software model comes from the profile's options; reclaim deactivates through PATCH."""

from __future__ import annotations

from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import SoftwareModel, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile

from ..conftest import NOW


async def test_scim_profile_syncs_into_the_model_its_options_name(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, org = SANDBOXES["scim"](150, 4, NOW, 0, FaultSpec())
    state = app.state.sandbox
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
        report = await profiles.validate_profile(db, keys, clock, "zoom-scim")
        assert report.ok, report
        assert report.facts["account_count"] == 150 and report.facts["patch_supported"] is True
        with db.transaction() as session:
            profile = profiles.get_profile(session, "zoom-scim")
            assert not profile.process_activity  # SCIM has no activity of its own
            profiles.publish_profile(session, clock, profile)
        summary = await sync_profile(db, keys, clock, "zoom-scim")
    assert summary.accounts == 150 and summary.created == 150
    with db.sessions() as session:
        models = session.scalars(select(SoftwareModel)).all()
        assert [(m.publisher, m.product, m.edition) for m in models] == [("Zoom", "Zoom", "Pro")]
        held = session.scalars(
            select(Subscription.external_id).where(Subscription.active.is_(True))
        ).all()
    assert sorted(held) == sorted(uid for uid, r in state.users.items() if r["active"])
