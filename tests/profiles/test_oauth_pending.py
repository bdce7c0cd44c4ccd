"""An OAuth authorization waits for its callback in the database: the redirect may reach
another process of ``shelfware serve --workers N`` (another engine over the same store) and
still finish it, once; a lapsed or unknown state is refused."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from shelfware.appstate import PendingAuthorizations
from shelfware.kit.db import Database
from shelfware.models import OAuthAttempt
from shelfware.profiles.oauth import PendingAuthorization

pytestmark = pytest.mark.store


def pending(state: str, created: float | None = None) -> PendingAuthorization:
    return PendingAuthorization(
        url="https://app.example/authorize?state=" + state,
        state=state,
        verifier="v" * 64,
        redirect_uri="http://127.0.0.1:8000/oauth/callback",
        token_url="https://app.example/token",
        created=time.time() if created is None else created,
    )


def test_another_process_takes_the_authorization_once(db: Database) -> None:
    other_engine = Database.from_url(db.engine.url.render_as_string(hide_password=False))
    try:
        started_here, finished_there = (
            PendingAuthorizations(db),
            PendingAuthorizations(other_engine),
        )
        started_here.add("asana", pending("s1"))
        taken = finished_there.take("s1")
        assert taken is not None
        name, found = taken
        assert name == "asana" and found.state == "s1" and found.verifier == "v" * 64
        assert found.redirect_uri == "http://127.0.0.1:8000/oauth/callback"
        assert found.token_url == "https://app.example/token"
        assert started_here.take("s1") is None and finished_there.take("s1") is None  # once
        assert finished_there.take("") is None and finished_there.take("forged") is None
    finally:
        other_engine.dispose()
    with db.sessions() as session:  # only the state's digest was stored
        assert session.scalar(select(func.count()).select_from(OAuthAttempt)) == 0


def test_a_lapsed_authorization_is_refused_and_pruned(db: Database) -> None:
    waiting = PendingAuthorizations(db, timeout=60)
    waiting.add("asana", pending("old", created=time.time() - 120))
    waiting.add("asana", pending("kept"))
    with db.sessions() as session:
        hashes = set(session.scalars(select(OAuthAttempt.state_hash)))
    assert "kept" not in hashes and len(hashes) == 1  # the lapsed one pruned, a digest kept
    assert waiting.take("old") is None
    assert waiting.take("kept") is not None
