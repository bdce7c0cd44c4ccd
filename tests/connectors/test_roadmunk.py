"""Roadmunk end to end over HTTP against the sandbox, through the real services (issue 8):
editions by role, candidates as manual tasks, closing when the user is gone, and the attached
user report deciding who holds a seat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.csv_input import CsvInputError
from shelfware.kit.db import Database
from shelfware.models import CandidateState, RemovalCandidate, Subscription
from shelfware.profiles import attachments
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.roadmunk import render_user_report, roadmunk_user_id
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile

from ..conftest import NOW


def held(db: Database) -> dict[str, str]:
    with db.sessions() as session:
        return {
            s.external_id: s.edition
            for s in session.scalars(select(Subscription).where(Subscription.active.is_(True)))
        }


def candidates(db: Database) -> dict[str, str]:
    with db.sessions() as session:
        return {
            sub.external_id: cand.state
            for cand, sub in session.execute(
                select(RemovalCandidate, Subscription).join(
                    Subscription, Subscription.id == RemovalCandidate.subscription_id
                )
            )
        }


async def test_roadmunk_seats_tasks_and_the_user_report(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    app, org = SANDBOXES["roadmunk"](400, 17, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        with db.transaction() as session:
            profile = profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="roadmunk", name="rm", url=server.url, secrets={"api_key": org.api_key}
                ),
            )
            assert profile.process_reclaim is False  # no reclaim API in Roadmunk
        assert (await profiles.validate_profile(db, keys, clock, "rm")).ok
        with db.transaction() as session:
            profiles.publish_profile(session, clock, profiles.get_profile(session, "rm"))
        await sync_profile(db, keys, clock, "rm")

        def edition(user: object) -> str:
            return "Reviewer" if org.role(user) == "Reviewer" else "Collaborator"

        assert held(db) == {roadmunk_user_id(u): edition(u) for u in org.users if not u.disabled}
        cutoff = NOW - timedelta(days=60)
        expected = {
            roadmunk_user_id(u)
            for u in org.users
            if not u.disabled
            and org.role(u) != "Account Admin"
            and (
                u.last_activity < cutoff if u.last_activity else u.creation_date <= cutoff
            )  # lastLogin
        }
        found = candidates(db)
        assert expected and set(found) == expected
        assert set(found.values()) == {CandidateState.AWAITING_REVOCATION.value}
        with db.sessions() as session:
            reasons = set(session.scalars(select(RemovalCandidate.reason)))
        assert len(reasons) == 1 and next(iter(reasons)).startswith(
            "deactivate this user in Roadmunk"
        )

        # a person deactivates one of them in Roadmunk: the next sync closes the task
        done = next(u for u in org.users if roadmunk_user_id(u) in expected)
        done.disabled = True
        await sync_profile(db, keys, clock, "rm")
        assert candidates(db)[roadmunk_user_id(done)] == CandidateState.CLOSED_COMPLETE.value

        # the attached report decides who holds a seat
        report = render_user_report(org)
        listed_inactive = next(
            u for u in org.users if not u.disabled and roadmunk_user_id(u) not in expected
        )
        lines = report.decode("utf-8-sig").splitlines()
        patched = [
            line.replace('"Active"', '"Inactive"') if listed_inactive.email in line else line
            for line in lines
        ]
        with db.transaction() as session:
            summary = attachments.attach_user_report(
                session,
                clock,
                profiles.get_profile(session, "rm"),
                ("\ufeff" + "\r\n".join(patched)).encode(),
                "users.csv",
            )
        assert summary["rows"] == len(org.users)
        await sync_profile(db, keys, clock, "rm")
        assert roadmunk_user_id(listed_inactive) not in held(db)
        assert len(held(db)) == sum(not u.disabled for u in org.users) - 1

        # a malformed report is refused with its line number and changes nothing
        with db.transaction() as session:
            profile = profiles.get_profile(session, "rm")
            before = dict(profile.options)
            with pytest.raises(CsvInputError, match="line 3"):
                attachments.attach_user_report(
                    session, clock, profile, b"Emails,Status\na@x.io,Active\nb@x.io,Maybe\n", "x"
                )
            assert profile.options == before
