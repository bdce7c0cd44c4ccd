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


async def test_enum_roles_keep_admins_admins_and_an_unknown_role_is_never_a_candidate(
    db: Database, keys: KeyRing, clock: FrozenClock
) -> None:
    """Issue 15: Roadmunk answering roles as GraphQL enums (`ACCOUNT_ADMIN`, `REVIEWER`, ...)
    made every user a Collaborator and nobody an admin, so idle admins became candidates. A
    role the connector does not know is listed by validation and never becomes a candidate."""
    app, org = SANDBOXES["roadmunk"](400, 23, NOW, 0, FaultSpec(enum_roles=1))
    cutoff = NOW - timedelta(days=60)

    def idle(u: object) -> bool:
        return u.last_activity < cutoff if u.last_activity else u.creation_date <= cutoff  # type: ignore[attr-defined]

    enabled = [u for u in org.users if not u.disabled]
    # at least two idle admins (one an Account Admin drawn, one made so) and one unknown role,
    # the unknown one on validation's first page (users are ordered by id)
    idle_users = sorted((u for u in enabled if idle(u)), key=roadmunk_user_id)
    unknown = idle_users[0]
    org.roles[unknown.object_id] = "Super User"  # answered as SUPER_USER
    org.roles[idle_users[1].object_id] = "Account Admin"
    admins = {roadmunk_user_id(u) for u in enabled if org.role(u) == "Account Admin"}
    reviewers = {roadmunk_user_id(u) for u in enabled if org.role(u) == "Reviewer"}
    assert admins & {roadmunk_user_id(u) for u in idle_users} and reviewers
    with serve_in_thread(app) as server:
        with db.transaction() as session:
            profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="roadmunk", name="rm", url=server.url, secrets={"api_key": org.api_key}
                ),
            )
        report = await profiles.validate_profile(db, keys, clock, "rm")
        assert report.ok  # an unknown role is reported, it does not block the profile
        assert report.facts["unknown_values"] == ["unknown role 'SUPER_USER'"]
        names = next(c for c in report.checks if c.name == "vendor names")
        assert "SUPER_USER" in names.detail
        with db.transaction() as session:
            profiles.publish_profile(session, clock, profiles.get_profile(session, "rm"))
        summary = await sync_profile(db, keys, clock, "rm")

        with db.sessions() as session:
            subs = {
                s.external_id: s
                for s in session.scalars(select(Subscription).where(Subscription.active.is_(True)))
            }
        assert {e for e, s in subs.items() if s.admin} == admins | {roadmunk_user_id(unknown)}
        assert {e for e, s in subs.items() if s.edition == "Reviewer"} == reviewers
        marked = subs[roadmunk_user_id(unknown)]
        assert marked.unrecognised == "unknown role 'SUPER_USER'"
        assert [e for e, s in subs.items() if s.unrecognised] == [roadmunk_user_id(unknown)]
        assert summary.unrecognised == 1
        assert summary.unrecognised_values == ["unknown role 'SUPER_USER'"]

        expected = {
            roadmunk_user_id(u)
            for u in enabled
            if org.role(u) not in ("Account Admin", "Super User") and idle(u)
        }
        found = candidates(db)
        assert expected and set(found) == expected
        assert not admins & set(found) and roadmunk_user_id(unknown) not in found

        # the vendor's role becomes known again: the account is an ordinary seat once more
        org.roles[unknown.object_id] = "Collaborator"
        await sync_profile(db, keys, clock, "rm")
        assert roadmunk_user_id(unknown) in candidates(db)
