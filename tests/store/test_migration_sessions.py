"""Migration 0014 (sessions and tokens) on both stores: tokens from before owners keep
working, get no owner (the local operator's) and expire 90 days after the migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from shelfware.accounts import service as accounts
from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database
from shelfware.store import upgrade
from tests.store.test_migrations import _migrate, empty

pytestmark = pytest.mark.store
__all__ = ["empty"]


def test_existing_tokens_get_no_owner_and_a_90_day_expiry(empty) -> None:  # type: ignore[no-untyped-def]
    _migrate(empty, "upgrade", "0009")
    plaintext = accounts.TOKEN_PREFIX + "old-token-from-before-owners"
    with empty.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_token (name, token_hash, role, created_at, revoked) "
                "VALUES ('old', :digest, 'viewer', :at, :revoked)"
            ),
            {"digest": accounts.digest(plaintext), "at": datetime(2026, 1, 1), "revoked": False},
        )
    before = datetime.now(UTC)
    upgrade(empty)
    db = Database(empty)
    with db.transaction() as session:
        (token,) = accounts.list_tokens(session)
        assert token.owner is None
        expected = before + timedelta(days=90)
        assert abs((token.expires_at - expected).total_seconds()) < 120
        clock = FrozenClock(before)
        assert accounts.verify_token(session, clock, plaintext) is not None
        clock.advance(timedelta(days=91))
        with pytest.raises(accounts.TokenRejected, match="token expired"):
            accounts.authenticate_token(session, clock, plaintext)
