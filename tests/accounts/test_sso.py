"""The single sign-on domain: SAML assertions remembered until they expire (replay refused),
forgotten after, and one assertion accepted once even when two posts race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shelfware.accounts import sso
from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database
from shelfware.models import SamlAssertion

IDP = "https://idp.example.test/saml/metadata"


@pytest.mark.store
def test_an_assertion_is_accepted_once_until_it_expires(db: Database, clock: FrozenClock) -> None:
    until = clock.now() + timedelta(minutes=5)
    with db.transaction() as session:
        assert sso.remember_assertion(
            session, clock, issuer=IDP, assertion_id="id-a", expires_at=until
        )
    with db.transaction() as session:
        assert not sso.remember_assertion(
            session, clock, issuer=IDP, assertion_id="id-a", expires_at=until
        )
        # the same ID from another provider is another assertion
        assert sso.remember_assertion(
            session, clock, issuer=IDP + "/other", assertion_id="id-a", expires_at=until
        )
    clock.advance(timedelta(minutes=6))
    with db.transaction() as session:  # expired ones are forgotten: the table stays bounded
        assert sso.remember_assertion(
            session, clock, issuer=IDP, assertion_id="id-b", expires_at=clock.now()
        )
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SamlAssertion)) == 1


@pytest.mark.store
def test_two_posts_of_one_assertion_racing_accept_it_once(db: Database, clock: FrozenClock) -> None:
    until = clock.now() + timedelta(minutes=5)
    barrier = threading.Barrier(2)
    answers: list[bool] = []

    def post() -> None:
        try:
            with db.transaction() as session:
                barrier.wait(timeout=10)
                answers.append(
                    sso.remember_assertion(
                        session, clock, issuer=IDP, assertion_id="id-race", expires_at=until
                    )
                )
        except Exception as exc:  # the loser may also fail at commit: refused all the same
            answers.append(False)
            assert "unique" in str(exc).lower() or "lock" in str(exc).lower(), exc

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == [False, True]
