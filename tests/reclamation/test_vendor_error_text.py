"""A vendor's error text is stored cleaned: a reclaim refused with a message holding NUL and
other control characters puts the candidate in attention_required with that message, minus the
characters a store refuses (PostgreSQL refuses NUL in text and JSON), instead of failing the
outcome's transaction.

The Rally connector here is the real one over real HTTP against the sandbox; only its reclaim
answer is replaced, because no sandbox (and no documented vendor) sends NUL in an error message
we could provoke."""

from __future__ import annotations

from typing import Any

import pytest

from shelfware.connectors.base import ConnectorError
from shelfware.connectors.registry import build_connector
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import CandidateState
from shelfware.profiles import service as profiles
from shelfware.reclamation.service import list_candidates, reclaim_candidates
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally, wide_cap

pytestmark = pytest.mark.store
HOSTILE = "the vendor says \x00no\x1b[31m: \u202egone"


async def test_a_vendor_error_with_nul_is_stored_cleaned(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any
) -> None:
    sandbox = rally_factory(users=120, seed=12)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as session:
        first = list_candidates(session, state="ready")[0]

    def refusing(profile: Any, keyring: KeyRing) -> Any:
        connector = build_connector(profile.kind, profiles.connector_settings(profile, keyring))

        async def reclaim(ref: Any) -> Any:
            raise ConnectorError(HOSTILE)

        connector.reclaim = reclaim  # type: ignore[method-assign]
        return connector

    [outcome] = await reclaim_candidates(
        db, keys, clock, ids=[first.id], open_connector=refusing, settings=wide_cap()
    )
    assert outcome.action == "failed"
    with db.sessions() as session:
        [after] = list_candidates(session, ids=[first.id])
    assert after.state == CandidateState.ATTENTION_REQUIRED.value
    stored = after.last_error or ""
    assert "the vendor says no" in stored and "gone" in stored
    assert not any(ord(c) < 32 for c in stored), repr(stored)  # bidi marks are shown escaped
