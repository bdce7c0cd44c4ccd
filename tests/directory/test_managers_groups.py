"""Managers and groups from Okta, over real HTTP against the sandbox, through the real sync:
each person's manager resolves to the manager's email; group memberships are imported and
replaced per sync, and a failed download changes neither; `import_groups=false` reads no
groups; a "keep" of a person with a manager goes to that manager for approval."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from shelfware.directory import service as directory
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, PersonGroup, RemovalCandidate, Subscription
from shelfware.models.person import LEFT_STATUSES
from shelfware.notifications.service import Notifier
from shelfware.reclamation import rules, workflow
from shelfware.reclamation.schemas import RuleChange
from shelfware.reclamation.service import list_candidates
from shelfware.sandbox.okta_org import OktaOrg
from shelfware.sandbox.server import serve_in_thread
from shelfware.settings import Settings
from shelfware.sync.service import SyncError, sync_profile
from shelfware.web import answers
from tests.connectors.test_okta import Okta, publish_okta
from tests.reclamation.conftest import NO_CAP, Mailbox, follow, mailbox  # noqa: F401

pytestmark = pytest.mark.store


def expected_managers(org: OktaOrg) -> dict[str, str | None]:
    """Email -> the manager's email, where the manager is listed and has not left."""
    by_id = {u.id: u for u in org.users}
    found: dict[str, str | None] = {}
    for user in org.users:
        manager = by_id.get(user.manager_id or "")
        ok = manager is not None and manager.status not in LEFT_STATUSES
        found[user.email] = manager.email if manager is not None and ok else None
    return found


def state_of(db: Database) -> tuple[dict[str, str | None], dict[str, set[str]]]:
    """Per person, the manager the directory answers; per group, its members' emails."""
    with db.sessions() as s:
        people = {p.email: p.id for p in s.scalars(select(Person))}
        managers = {email: directory.manager_email(s, pid) for email, pid in people.items()}
        names = set(s.scalars(select(PersonGroup.name)))
        groups = {name: directory.group_member_emails(s, [name]) for name in names}
    return managers, groups


async def test_managers_and_groups_imported_and_replaced_per_sync(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    org = okta.org
    await publish_okta(db, keys, clock, okta)
    summary = await sync_profile(db, keys, clock, "okta")
    assert summary.people is not None
    assert summary.people.memberships == sum(len(g.members) for g in org.groups)
    managers, groups = state_of(db)
    assert managers == expected_managers(org)
    assert sum(m is not None for m in managers.values()) >= len(org.users) // 2
    email = {u.id: u.email for u in org.users}
    assert set(groups) == {g.name for g in org.groups}
    for group in org.groups:
        members = {email[m] for m in group.members}
        assert members <= groups[group.name]  # logins and account emails count too
        assert not groups[group.name] & (set(email.values()) - members), group.name
    with db.sessions() as s:  # any case, several groups at once, unknown names
        sales = next(g for g in org.groups if g.name == "Sales")
        either = directory.group_member_emails(s, [" sales ", "CONTRACTORS", "No such group"])
        assert groups["Sales"] | groups["Contractors"] == either
        assert directory.group_member_emails(s, []) == set()

    # Okta changes: someone leaves Sales, someone gets another manager
    mover = next(u for u in org.users[1:] if u.id in sales.members)
    sales.members.remove(mover.id)
    managed = next(u for u in org.users[5:] if expected_managers(org)[u.email] is not None)
    new_boss = next(u for u in org.users[1:] if u.status == "ACTIVE" and u is not managed)
    managed.manager_id = new_boss.id
    okta.state.reload()
    await sync_profile(db, keys, clock, "okta")
    managers, groups = state_of(db)
    assert managers[managed.email] == new_boss.email
    assert mover.email not in groups["Sales"] and mover.email in groups["Everyone"]
    assert groups["Sales"] >= {email[m] for m in sales.members}

    # a download that fails part way through the groups changes nothing at all
    before = state_of(db)
    sales.members.append(mover.id)
    managed.manager_id = org.users[0].id
    broken = org.groups[-1]
    broken.name = 42  # type: ignore[assignment]
    okta.state.reload()
    with pytest.raises(SyncError, match="malformed group"):
        await sync_profile(db, keys, clock, "okta")
    assert state_of(db) == before


async def test_import_groups_off_reads_no_groups(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    await publish_okta(db, keys, clock, okta, import_groups="false")
    summary = await sync_profile(db, keys, clock, "okta")
    assert summary.people is not None and summary.people.memberships is None
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(PersonGroup)) == 0
    _, groups = state_of(db)
    assert groups == {}


async def test_keep_of_a_person_with_a_manager_goes_to_that_manager(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    okta: Okta,
    mailbox: Mailbox,  # noqa: F811
    tmp_path: Any,
) -> None:
    org = okta.org
    await publish_okta(db, keys, clock, okta)
    await sync_profile(db, keys, clock, "okta")
    managers = expected_managers(org)
    with db.sessions() as s:
        person_of = {
            sub.external_id: s.get_one(Person, sub.person_id).email
            for sub in s.scalars(select(Subscription).where(Subscription.person_id.is_not(None)))
        }
        ready = [
            c
            for c in list_candidates(s, state="ready")
            if c.email and c.justification != "left the organisation"
        ]
    kept = next(c for c in ready if managers[person_of[c.external_id]] is not None)
    manager = managers[person_of[kept.external_id]]
    assert manager is not None
    with db.transaction() as s:
        rules.set_rule(
            s,
            clock,
            RuleChange(
                model=kept.software_model,
                notify=True,
                approval_required=True,
                auto_reclaim_days=7,
                add_approvers=["boss@corp.test"],
            ),
        )
    with serve_in_thread(answers.app(db, keys, clock)) as server:
        settings = Settings(
            home=tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_starttls=False,
            public_url=server.url,
            **NO_CAP,
        )
        notifier = Notifier(settings)
        first = await workflow.advance(db, keys, clock, notifier)
        assert kept.id in first.notified
        answered = follow(mailbox.links(kept.email or "")["keep"])
        assert answered.status_code == 200 and "sent for approval" in answered.text
        with db.sessions() as s:
            held = s.get_one(RemovalCandidate, kept.id)
            assert (held.state, held.approver) == ("awaiting_approval", manager)
        asked = await workflow.advance(db, keys, clock, notifier)
    assert asked.approvals_requested == [kept.id]
    [request] = mailbox.to(manager)
    assert f"candidates approve {kept.id}" in request.get_body(("plain",)).get_content()
    assert mailbox.to("boss@corp.test") == []


async def test_groups_follow_people_merged_by_a_domain_alias(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Okta
) -> None:
    org = okta.org
    await publish_okta(db, keys, clock, okta)
    await sync_profile(db, keys, clock, "okta")
    sales = next(g for g in org.groups if g.name == "Sales")
    user = next(u for u in org.users[1:] if u.id in sales.members)
    local, _, domain = user.email.partition("@")
    with db.transaction() as s:  # the same person known at an old domain, in two groups
        profile_id = s.scalar(select(PersonGroup.profile_id).limit(1))
        old = Person(email=f"{local}@old.{domain}", created_at=clock.now())
        s.add(old)
        s.flush()
        for name in ("Sales", "Legacy"):
            s.add(PersonGroup(person_id=old.id, profile_id=profile_id, name=name))
    with db.transaction() as s:
        directory.add_alias(s, clock, f"old.{domain}", domain)
    with db.sessions() as s:
        [merged] = s.scalars(select(Person).where(Person.email == user.email)).all()
        names = s.scalars(select(PersonGroup.name).where(PersonGroup.person_id == merged.id))
        assert sorted(names) == sorted(
            ["Legacy", *(g.name for g in org.groups if user.id in g.members)]
        )
        assert user.email in directory.group_member_emails(s, ["legacy"])
        assert s.scalar(select(func.count()).select_from(Person).where(Person.id == old.id)) == 0
