"""Identity across apps, over real HTTP: a Rally profile and an Okta profile over the same
people (one seed). Accounts link to people by normalised email plus domain aliases; accounts
that match nobody are reported; people who left still holding seats in any app become
candidates ("left the organisation"); a full import links accounts by login; an app reached
both through Okta and directly counts each person once; a SCIM profile takes its activity from
the Okta app that fronts it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import literal, select

from shelfware.directory import service as directory
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation.service import list_candidates
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.okta import BUDGETS, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import SSO, OktaOrg, generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile

from ..conftest import NOW
from ..helpers import idle_expected, is_admin, published, published_rally

SEED = 3
USERS = 60


@pytest.fixture
def okta() -> Iterator[tuple[OktaOrg, Any, str]]:
    org = generate_okta_org(USERS, SEED, NOW)
    app = create_okta_app(org, limits=RateLimits(budgets=dict.fromkeys(BUDGETS, 10_000)))
    with serve_in_thread(app) as server:
        yield org, app.state.sandbox, server.url


async def publish_okta(
    db: Database, keys: KeyRing, clock: FrozenClock, url: str, org: OktaOrg, **options: str
) -> None:
    data = ProfileCreate(
        kind="okta", name="okta", url=url, secrets={"api_key": org.api_key}, options=options
    )
    await published(db, keys, clock, data)


@pytest.mark.store
@pytest.mark.parametrize(
    ("raw", "aliases", "expected"),
    [
        (" JDoe@Example.COM ", {}, "jdoe@example.com"),
        ("\tjdoe@OLD.example.com\n", {"old.example.com": "example.com"}, "jdoe@example.com"),
        ("jdoe@notold.example.com", {"old.example.com": "example.com"}, "jdoe@notold.example.com"),
        ("JDoe@Example.com", {"old.example.com": "example.com"}, "jdoe@example.com"),
    ],
)
def test_matching_key_ignores_case_and_whitespace_and_follows_aliases(
    db: Database, raw: str, aliases: dict[str, str], expected: str
) -> None:
    assert directory.canonical_email(raw, aliases) == expected
    with db.engine.connect() as connection:  # the SQL the sync links with says the same
        in_sql = connection.scalar(select(directory.canonical_email_sql(literal(raw), aliases)))
    assert in_sql == expected


def rally_people(org: Any) -> dict[str, Any]:
    """Rally user name -> user, for the enabled ones."""
    return {u.username: u for u in org.users if not u.disabled}


async def test_identity_across_rally_and_okta(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any, okta: Any
) -> None:
    okta_org, okta_state, okta_url = okta
    rally = rally_factory(users=USERS, seed=SEED)
    enabled = rally_people(rally.org)
    # a leaver: still enabled in Rally (and recently active there), deprovisioned in Okta
    leaver = next(
        u
        for u in rally.org.users[1:]
        if not u.disabled and not is_admin(u) and u.email and not idle_expected(u, NOW)
    )
    okta_user = okta_org.user(leaver.username)
    assert okta_user is not None
    okta_user.status = "DEPROVISIONED"
    for seats in okta_org.assignments.values():
        seats.pop(okta_user.id, None)  # deprovisioned people hold no Okta assignments
    okta_state.reload()
    # one Rally account's email at an old domain, with odd case and whitespace
    moved = next(u for u in rally.org.users[1:] if u is not leaver and not u.disabled and u.email)
    local, _, domain = moved.username.partition("@")
    moved.email = f" {local.upper()}@Old-Corp.Example\t"
    rally.state.reload_users()

    await published_rally(db, keys, clock, rally.url, rally.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    with db.sessions() as session:
        no_email = {
            r.external_id
            for r in directory.unmatched_accounts(session)
            if r.reason == "no email to match by"
        }
        before = {c.external_id for c in list_candidates(session)}
        assert {r.external_id for r in directory.unmatched_accounts(session)} == no_email
    assert no_email == {str(u.object_id) for u in enabled.values() if not u.email}
    assert str(leaver.object_id) not in before

    await publish_okta(db, keys, clock, okta_url, okta_org)
    await sync_profile(db, keys, clock, "okta")
    with db.sessions() as session:
        unmatched = {r.external_id: r.reason for r in directory.unmatched_accounts(session)}
        rally_candidates = {c.external_id: c for c in list_candidates(session, profile="rally")}
        leavers = directory.leavers_holding_seats(session)
    assert unmatched == {
        **dict.fromkeys(no_email, "no email to match by"),
        str(moved.object_id): "nobody in the identity provider has this email",
    }
    # the leaver's Rally seat is a candidate whatever their activity
    candidate = rally_candidates[str(leaver.object_id)]
    assert (candidate.justification, candidate.state) == ("left the organisation", "ready")
    assert "DEPROVISIONED" in (candidate.reason or "")
    left = {u.login for u in okta_org.users if u.status in ("DEPROVISIONED", "SUSPENDED")}
    rally_leavers = {str(u.object_id) for u in enabled.values() if u.username in left}
    assert str(leaver.object_id) in rally_leavers and len(rally_leavers) > 1
    assert {s.external_id for s in leavers if s.profile == "rally"} == rally_leavers
    assert {
        k for k, c in rally_candidates.items() if c.justification == "left the organisation"
    } == rally_leavers
    # Okta's own seats of suspended people are listed too
    suspended = {u.id for u in okta_org.users if u.status == "SUSPENDED"}
    assert {s.external_id.partition(":")[2] for s in leavers if s.profile == "okta"} == {
        u for seats in okta_org.assignments.values() for u in seats if u in suspended
    }

    # a resolution rule: the old domain is the person's usual one; people merge
    with db.transaction() as session:
        directory.add_alias(session, clock, "old-corp.example", domain)
    with db.sessions() as session:
        assert {r.external_id for r in directory.unmatched_accounts(session)} == no_email
        person = session.scalars(select(Person).where(Person.email == moved.username)).one()
        linked = session.scalars(
            select(Subscription.external_id).where(Subscription.person_id == person.id)
        ).all()
        assert str(moved.object_id) in linked and person.idp_user_id is not None
        assert session.scalar(select(Person).where(Person.email.like("%old-corp%"))) is None

    # a full import links the accounts without an email by the Okta login
    with db.transaction() as session:
        profiles.get_profile(session, "okta").options = {"full_import": "true"}
    summary = await sync_profile(db, keys, clock, "okta")
    assert summary.people is not None and summary.people.linked == len(no_email)
    with db.sessions() as session:
        assert directory.unmatched_accounts(session) == []


async def test_the_same_app_twice_counts_each_person_once(
    db: Database, keys: KeyRing, clock: FrozenClock, rally_factory: Any, okta: Any
) -> None:
    okta_org, _, okta_url = okta
    rally = rally_factory(users=USERS, seed=SEED)
    await published_rally(db, keys, clock, rally.url, rally.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    await publish_okta(db, keys, clock, okta_url, okta_org)
    await sync_profile(db, keys, clock, "okta")
    with db.sessions() as session:
        rows = {m.software_model: m for m in directory.people_per_model(session)}
        holders = session.execute(
            select(Subscription.software_model_id, Subscription.person_id, Subscription.id).where(
                Subscription.active.is_(True), Subscription.gone_at.is_(None)
            )
        ).all()
    direct, sso = rows["Broadcom Rally Unlimited"], rows["Okta Rally SSO"]
    # flagged automatically: Okta's app "Rally" is the direct Rally integration's app
    assert direct.same_app_as == ["Okta Rally SSO"] and sso.same_app_as == [
        "Broadcom Rally Unlimited"
    ]
    both = {direct.software_model_id, sso.software_model_id}
    keys_across = {
        ("p", person) if person is not None else ("s", sub)
        for model, person, sub in holders
        if model in both
    }
    assert direct.people_across_same_app == sso.people_across_same_app == len(keys_across)
    assert direct.accounts + sso.accounts > len(keys_across)  # the overlap is counted once
    assert direct.people <= direct.accounts
    # a person can undo the link; the figures then stand apart
    with db.transaction() as session:
        directory.link_same_app(session, clock, "Okta Rally SSO", None)
    with db.sessions() as session:
        rows = {m.software_model: m for m in directory.people_per_model(session)}
    assert rows["Okta Rally SSO"].same_app_as == []
    assert rows["Okta Rally SSO"].people_across_same_app == rows["Okta Rally SSO"].people


async def test_a_scim_profile_takes_activity_from_the_okta_app_that_fronts_it(
    db: Database, keys: KeyRing, clock: FrozenClock, okta: Any
) -> None:
    okta_org, _, okta_url = okta
    zoom = okta_org.app_by_label("Zoom")
    await publish_okta(db, keys, clock, okta_url, okta_org)
    await sync_profile(db, keys, clock, "okta")
    app, scim_org = SANDBOXES["scim"](USERS, SEED, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        data = ProfileCreate(
            kind="scim",
            name="zoom-scim",
            url=f"{server.url}/scim/v2",
            secrets={"api_key": scim_org.api_key},
            options={
                "publisher": "Zoom",
                "product": "Zoom",
                "edition": "Pro",
                "activity_from": f"okta:{zoom.id}",
            },
        )
        await published(db, keys, clock, data)
        with db.sessions() as session:
            assert profiles.get_profile(session, "zoom-scim").process_activity
        await sync_profile(db, keys, clock, "zoom-scim")
    # restated: the latest Zoom SSO per Okta login within the analysis window
    since = NOW - timedelta(days=60)
    latest: dict[str, datetime] = {}
    for event in okta_org.events:
        at = datetime.fromisoformat(event["published"])
        targets = {t["id"] for t in event["target"] if t["type"] == "AppInstance"}
        if event["eventType"] == SSO and zoom.id in targets and since < at < NOW:
            login = event["actor"]["alternateId"].lower()
            latest[login] = max(at, latest.get(login, at))
    with db.sessions() as session:
        scim = profiles.get_profile(session, "zoom-scim")
        got = {
            (s.username or "").lower(): s.last_activity_at
            for s in session.scalars(select(Subscription).where(Subscription.profile_id == scim.id))
            if s.last_activity_at is not None
        }
        candidates = list_candidates(session, profile="zoom-scim")
    assert got and got == {login: at for login, at in latest.items() if login in got}
    assert set(latest) - set(got) <= {
        u.username.lower() for u in scim_org.users if not u.email
    }  # accounts without an email match nobody
    assert candidates  # idle Zoom seats are candidates now that activity is known
