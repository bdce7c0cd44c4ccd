"""The connector contract, one suite for every connector (and, later, every custom spec).

Each connector kind adds a `Harness` factory to `HARNESSES`: it starts the kind's sandbox over
real HTTP and says what the sandbox holds. The same assertions then run against every kind, so
no connector gets a weaker copy of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    AuthenticationError,
    Connector,
    ConnectorError,
    ConnectorSettings,
    PageError,
    ReclaimOutcome,
)
from shelfware.connectors.registry import build_connector, connector_class, connector_kinds
from shelfware.kit.http import HttpPolicy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = HttpPolicy(backoff_base=0.001, backoff_cap=0.005, read_timeout=10, max_retries=2)


@dataclass
class Harness:
    """A running sandbox of one kind and what it holds."""

    kind: str
    settings: ConnectorSettings  # a working credential
    bad_settings: ConnectorSettings  # a credential the app rejects
    accounts: dict[str, bool]  # external id -> holds a seat (active)
    owner: str | None  # the credential's own account, if the app can say
    reclaimable: str  # an active, non-owner account the test may reclaim
    unknown: str  # an external id the app does not know
    released: Callable[[str], bool]  # whether the sandbox shows the account's seat released
    writes: Callable[[], int]  # write requests the sandbox has seen
    activity_since: datetime | None  # None: the connector has no activity of its own
    activity_after: dict[str, datetime]  # latest activity after `activity_since` per account
    activity_until: datetime | None = None  # the run's start, for apps whose logs are streams


@contextlib.contextmanager
def rally_harness() -> Iterator[Harness]:
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.org import generate_org
    from shelfware.sandbox.rally import create_rally_app
    from shelfware.sandbox.server import serve_in_thread

    org = generate_org(130, seed=5, now=NOW)
    app = create_rally_app(org, faults=FaultSpec(), latency_ms=0)
    with serve_in_thread(app) as server:
        url = f"{server.url}/slm/webservice"
        # small pages, so the suite crosses page boundaries
        good = ConnectorSettings(
            url=url, secrets={"api_key": org.api_key}, options={"page_size": "25"}
        )
        bad = ConnectorSettings(url=url, secrets={"api_key": "_not-the-key-0000"})
        owner = org.owner
        reclaimable = next(u for u in org.users[1:] if not u.disabled and not u.subscription_admin)
        since = NOW - timedelta(days=45)
        state = app.state.sandbox
        yield Harness(
            kind="rally",
            settings=good,
            bad_settings=bad,
            accounts={str(u.object_id): not u.disabled for u in org.users},
            owner=str(owner.object_id),
            reclaimable=str(reclaimable.object_id),
            unknown="999999999",
            released=lambda oid: bool(state.users.by_id[int(oid)]["Disabled"]),
            writes=lambda: int(state.disable_calls),
            activity_since=since,
            activity_after={
                str(u.object_id): u.last_activity
                for u in org.users
                if u.last_activity is not None and u.last_activity > since
            },
        )


@contextlib.contextmanager
def scim_harness() -> Iterator[Harness]:
    """A real third-party SCIM server (scim2-server, from PyPI), seeded over its own API."""
    from tests.connectors.scim_server import running_scim_server

    with running_scim_server(users=70, inactive_every=6) as server:
        url = server.url
        good = ConnectorSettings(
            url=url, secrets={"api_key": server.token}, options={"page_size": "25"}
        )
        bad = ConnectorSettings(url=url, secrets={"api_key": "not-the-token-0000"})
        reclaimable = next(uid for uid, active in server.seeded.items() if active)
        initial = server.active_flags()
        yield Harness(
            kind="scim",
            settings=good,
            bad_settings=bad,
            accounts=dict(server.seeded),
            owner=None,  # SCIM cannot say whom a token belongs to
            reclaimable=reclaimable,
            unknown="00000000-0000-4000-8000-000000000000",
            released=lambda uid: server.active_flags().get(uid) is False,
            writes=lambda: sum(
                1 for uid, active in server.active_flags().items() if active != initial[uid]
            ),
            activity_since=None,
            activity_after={},
        )


@contextlib.contextmanager
def scim_sandbox_harness() -> Iterator[Harness]:
    """Our own SCIM sandbox (same connector, a second server implementation)."""
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    app, org = SANDBOXES["scim"](90, 6, NOW, 0, FaultSpec())
    state = app.state.sandbox
    with serve_in_thread(app) as server:
        url = f"{server.url}/scim/v2"
        resources = state.ordered()
        yield Harness(
            kind="scim",
            settings=ConnectorSettings(
                url=url, secrets={"api_key": org.api_key}, options={"page_size": "20"}
            ),
            bad_settings=ConnectorSettings(url=url, secrets={"api_key": "nope-not-the-token"}),
            accounts={r["id"]: r["active"] for r in resources},
            owner=None,
            reclaimable=next(r["id"] for r in resources if r["active"]),
            unknown="no-such-user",
            released=lambda uid: state.users[uid]["active"] is False,
            writes=lambda: int(state.writes),
            activity_since=None,
            activity_after={},
        )


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@contextlib.contextmanager
def custom_rally_harness() -> Iterator[Harness]:
    """The custom connector running examples/rally.yaml against the Rally sandbox."""
    with rally_harness() as rally:
        spec = (EXAMPLES / "rally.yaml").read_text()

        def with_spec(settings: ConnectorSettings) -> ConnectorSettings:
            options = {**settings.options, "spec": spec, "page_size": "25"}
            return ConnectorSettings(url=settings.url, secrets=settings.secrets, options=options)

        yield Harness(
            kind="custom",
            settings=with_spec(rally.settings),
            bad_settings=with_spec(rally.bad_settings),
            accounts=rally.accounts,
            owner=None,  # a spec cannot say whom a key belongs to
            reclaimable=rally.reclaimable,
            unknown=rally.unknown,
            released=rally.released,
            writes=rally.writes,
            activity_since=None,  # activity comes on the account records (account_field)
            activity_after={},
        )


@contextlib.contextmanager
def roadmunk_harness() -> Iterator[Harness]:
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.roadmunk import roadmunk_user_id
    from shelfware.sandbox.server import serve_in_thread

    app, org = SANDBOXES["roadmunk"](230, 8, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        active = next(u for u in org.users[1:] if not u.disabled)
        yield Harness(
            kind="roadmunk",
            settings=ConnectorSettings(url=server.url, secrets={"api_key": org.api_key}),
            bad_settings=ConnectorSettings(url=server.url, secrets={"api_key": "wrong-token-1"}),
            accounts={roadmunk_user_id(u): not u.disabled for u in org.users},
            owner=None,
            reclaimable=roadmunk_user_id(active),
            unknown="usr_does_not_exist",
            released=lambda uid: False,  # Roadmunk cannot reclaim through its API
            writes=lambda: 0,  # the schema has no mutation at all
            activity_since=None,  # lastLogin comes on the account records
            activity_after={},
        )


@contextlib.contextmanager
def custom_acme_harness() -> Iterator[Harness]:
    """The custom connector running examples/acme.yaml against the Acme sandbox: an API no
    built-in connector knows (cursor in the body, key header, odd dates, events, DELETE)."""
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.acme import acme_member_id
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    app, org = SANDBOXES["acme"](160, 9, NOW, 0, FaultSpec())
    state = app.state.sandbox
    spec = (EXAMPLES / "acme.yaml").read_text()
    since = NOW - timedelta(days=45)
    latest: dict[str, datetime] = {}
    for event in org.events:  # type: ignore[attr-defined]
        at = datetime.fromtimestamp(event.at, UTC)
        if at > since and (event.member_id not in latest or at > latest[event.member_id]):
            latest[event.member_id] = at
    with serve_in_thread(app) as server:
        reclaimable = next(u for u in org.users[1:] if not u.disabled)
        yield Harness(
            kind="custom",
            settings=ConnectorSettings(
                url=server.url, secrets={"api_key": org.api_key}, options={"spec": spec}
            ),
            bad_settings=ConnectorSettings(
                url=server.url, secrets={"api_key": "wrong-key-123"}, options={"spec": spec}
            ),
            accounts={acme_member_id(u): not u.disabled for u in org.users},
            owner=None,  # the spec cannot say; the sandbox refuses to delete the owner anyway
            reclaimable=acme_member_id(reclaimable),
            unknown="mbr_999999999",
            released=lambda mid: state.find(mid) is None,
            writes=lambda: len(state.deleted),
            activity_since=since,
            activity_after=latest,
        )


@contextlib.contextmanager
def asana_harness() -> Iterator[Harness]:
    from shelfware.connectors.asana import ASANA_ACTIVITY_EVENTS
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    app, org = SANDBOXES["asana"](140, 12, NOW, 0, FaultSpec())
    state = app.state.sandbox
    workspace = org.organisation.gid
    members = org.members(workspace)
    since = NOW - timedelta(days=45)
    latest: dict[str, datetime] = {}
    for event in org.events:
        if (
            event.workspace_gid == workspace
            and event.event_type in ASANA_ACTIVITY_EVENTS
            and since < event.created_at < NOW
            and event.created_at > latest.get(event.actor.gid, since)
        ):
            latest[event.actor.gid] = event.created_at
    with serve_in_thread(app) as server:
        options = {"workspace": workspace, "rate_limit": "paid"}
        reclaimable = next(
            m for m in members if m.is_active and not m.is_admin and m.user.gid != org.owner.gid
        )
        yield Harness(
            kind="asana",
            settings=ConnectorSettings(
                url=server.url, secrets={"api_key": org.api_key}, options=options
            ),
            bad_settings=ConnectorSettings(
                url=server.url, secrets={"api_key": "0/not-a-token-42"}, options=options
            ),
            accounts={m.user.gid: m.is_active for m in members},
            owner=org.owner.gid,
            reclaimable=reclaimable.user.gid,
            unknown="999999999999",
            released=lambda gid: not org.membership(workspace, gid).is_active,
            writes=lambda: int(state.remove_calls),
            activity_since=since,
            activity_after=latest,
            activity_until=NOW,
        )


@contextlib.contextmanager
def okta_harness() -> Iterator[Harness]:
    """The Okta sandbox: every app assignment is an account `APP_ID:USER_ID`."""
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.okta_org import SSO
    from shelfware.sandbox.server import serve_in_thread

    app, org = SANDBOXES["okta"](60, 13, NOW, 0, FaultSpec())
    state = app.state.sandbox
    active_apps = {a.id for a in org.apps if a.status == "ACTIVE"}
    seats = {
        (app_id, user_id): seat
        for app_id, assigned in org.assignments.items()
        for user_id, seat in assigned.items()
    }
    since = NOW - timedelta(days=45)
    latest: dict[str, datetime] = {}
    for event in org.events:
        at = datetime.fromisoformat(event["published"])
        if event["eventType"] == SSO and since < at < NOW:
            app_id = next(t["id"] for t in event["target"] if t["type"] == "AppInstance")
            key = f"{app_id}:{event['actor']['id']}"
            latest[key] = max(at, latest.get(key, at))

    def released(key: str) -> bool:
        """An assignment `APP:USER` is gone; a bare user id: any of their assignments is."""
        app_id, _, user_id = key.rpartition(":")
        held = [(a, u) for (a, u) in seats if (a == app_id or not app_id) and u == user_id]
        return any(u not in org.assignments.get(a, {}) for a, u in held)

    with serve_in_thread(app) as server:
        reclaimable = next(
            (a, u)
            for (a, u), seat in seats.items()
            if a in active_apps and seat.scope == "USER" and u != org.owner_id
        )
        yield Harness(
            kind="okta",
            settings=ConnectorSettings(url=server.url, secrets={"api_key": org.api_key}),
            bad_settings=ConnectorSettings(url=server.url, secrets={"api_key": "00" + "x" * 40}),
            accounts={f"{a}:{u}": a in active_apps for (a, u) in seats},
            owner=org.owner_id,
            reclaimable=":".join(reclaimable),
            unknown=f"{org.apps[0].id}:00uthereisnosuchuser",
            released=released,
            writes=lambda: int(state.unassign_calls),
            activity_since=since,
            activity_after=latest,
            activity_until=NOW,
        )


@contextlib.contextmanager
def microsoft365_harness() -> Iterator[Harness]:
    """The Microsoft 365 sandbox: every assigned license is an account `USER_ID:SKU_ID`."""
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    app, tenant = SANDBOXES["microsoft365"](150, 21, NOW, 0, FaultSpec())
    state = app.state.sandbox
    seats = {(u.id, sku): group for u in tenant.users for sku, group in u.licenses.items()}
    admins = tenant.admin_ids()
    with serve_in_thread(app) as server:
        secrets = {"client_id": tenant.client_id, "client_secret": tenant.client_secret}
        options = {"tenant": tenant.tenant_id, "authority": server.url}
        reclaimable = next(
            f"{u}:{sku}" for (u, sku), group in seats.items() if group is None and u not in admins
        )
        yield Harness(
            kind="microsoft365",
            settings=ConnectorSettings(f"{server.url}/v1.0", secrets=secrets, options=options),
            bad_settings=ConnectorSettings(
                f"{server.url}/v1.0",
                secrets={**secrets, "client_secret": "not~the~secret~0000"},
                options=options,
            ),
            accounts={f"{u}:{sku}": True for (u, sku) in seats},
            owner=None,  # an app-only token belongs to no user
            reclaimable=reclaimable,
            unknown=f"00000000-0000-4000-8000-000000000000:{next(iter(seats))[1]}",
            released=lambda key: tuple(key.split(":")) in set(state.removed),
            writes=lambda: int(state.assign_calls),
            activity_since=None,  # signInActivity comes on the user records
            activity_after={},
        )


def other_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@contextlib.contextmanager
def google_harness() -> Iterator[Harness]:
    """The Google Workspace sandbox: every license assignment is `PRODUCT:SKU:EMAIL`."""
    import json

    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import FaultSpec
    from shelfware.sandbox.server import serve_in_thread

    app, domain = SANDBOXES["google"](140, 23, NOW, 0, FaultSpec())
    state = app.state.sandbox
    seats = {(u.email, sku, product) for u in domain.users for sku, product in u.licenses.items()}
    with serve_in_thread(app) as server:
        options = {
            "customer": domain.customer_id,
            "admin": domain.admin,
            "token_uri": f"{server.url}/token",
            "directory_url": server.url,
            "backoff_base": "0.01",
        }
        wrong = json.dumps({**domain.service_account, "private_key": other_private_key()})
        reclaimable = next(
            f"{p}:{s}:{e}"
            for e, s, p in sorted(seats)
            if not domain.user(e).is_admin  # type: ignore[union-attr]
        )
        yield Harness(
            kind="google_workspace",
            settings=ConnectorSettings(
                server.url, secrets={"api_key": domain.api_key}, options=options
            ),
            bad_settings=ConnectorSettings(server.url, secrets={"api_key": wrong}, options=options),
            accounts={f"{p}:{s}:{e}": True for e, s, p in seats},
            owner=None,  # a service account impersonating an admin: no account of its own
            reclaimable=reclaimable,
            unknown=f"Google-Apps:1010020028:nobody@{domain.domain}",
            released=lambda key: (key.split(":")[2], key.split(":")[1]) in set(state.removed),
            writes=lambda: int(state.deletes),
            activity_since=None,  # lastLoginTime comes with the directory's users
            activity_after={},
        )


HARNESSES: dict[str, Callable[[], contextlib.AbstractContextManager[Harness]]] = {
    "google_workspace": google_harness,
    "microsoft365": microsoft365_harness,
    "okta": okta_harness,
    "asana": asana_harness,
    "roadmunk": roadmunk_harness,
    "custom-acme": custom_acme_harness,
    "custom": custom_rally_harness,
    "rally": rally_harness,
    "scim": scim_harness,  # a third-party SCIM server from PyPI
    "scim-sandbox": scim_sandbox_harness,
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    with HARNESSES[request.param]() as running:
        yield running


def connect(settings: ConnectorSettings, kind: str) -> Connector:
    return build_connector(kind, settings, policy=FAST)


async def download(connector: Connector) -> list[AccountRecord]:
    records: list[AccountRecord] = []
    async with contextlib.aclosing(connector.accounts()) as pages:
        async for page in pages:
            records.extend(page)
    return records


def test_every_builtin_kind_has_a_harness() -> None:
    assert set(connector_kinds()) <= set(HARNESSES), "add a contract harness for the new kind"


def test_the_class_declares_the_contract(harness: Harness) -> None:
    cls = connector_class(harness.kind)
    for name in ("publisher", "product", "default_edition", "capabilities", "permissions"):
        assert getattr(cls, name), name
    processes = {str(p.process) for p in cls.permissions}
    assert "download" in processes
    assert (cls.capabilities.reclaim) == ("reclaim" in processes)
    assert isinstance(connect(harness.settings, harness.kind), Connector)


async def test_validate_reads_only_and_knows_the_credential(harness: Harness) -> None:
    connector = connect(harness.settings, harness.kind)
    try:
        report = await connector.validate()
    finally:
        await connector.aclose()
    assert report.ok, report
    assert harness.writes() == 0
    if harness.owner is not None:
        assert report.credential_owner is not None
        assert report.credential_owner.external_id == harness.owner


async def test_a_rejected_credential_fails_validation_and_download(harness: Harness) -> None:
    connector = connect(harness.bad_settings, harness.kind)
    try:
        report = await connector.validate()
        assert not report.ok
        with pytest.raises((AuthenticationError, PageError)) as caught:
            await download(connector)
    finally:
        await connector.aclose()
    assert isinstance(caught.value, AuthenticationError), caught.value
    assert harness.bad_settings.secrets and all(
        secret not in str(caught.value) for secret in harness.bad_settings.secrets.values()
    )


async def test_accounts_are_every_account_exactly_once(harness: Harness) -> None:
    connector = connect(harness.settings, harness.kind)
    try:
        records = await download(connector)
        expected_total = connector.expected_total
    finally:
        await connector.aclose()
    ids = [r.external_id for r in records]
    assert len(ids) == len(set(ids))
    assert {r.external_id: r.active for r in records} == harness.accounts
    if expected_total is not None:
        assert expected_total == len(records)
    assert connector.stats.requests >= connector.stats.pages >= 1


async def test_current_rereads_one_account(harness: Harness) -> None:
    connector = connect(harness.settings, harness.kind)
    try:
        found = await connector.current(AccountRef(harness.reclaimable))
        missing = await connector.current(AccountRef(harness.unknown))
    finally:
        await connector.aclose()
    assert found is not None and found.external_id == harness.reclaimable and found.active
    assert missing is None


async def test_reclaim_releases_once_and_is_idempotent(harness: Harness) -> None:
    cls = connector_class(harness.kind)
    if not cls.capabilities.reclaim:
        pytest.skip(f"{harness.kind} cannot reclaim through its API (manual revocation)")
    connector = connect(harness.settings, harness.kind)
    try:
        first = await connector.reclaim(AccountRef(harness.reclaimable))
        again = await connector.reclaim(AccountRef(harness.reclaimable))
        gone = await connector.reclaim(AccountRef(harness.unknown))
        owner = await connector.reclaim(AccountRef(harness.owner)) if harness.owner else None
    finally:
        await connector.aclose()
    assert first.outcome is ReclaimOutcome.RECLAIMED, first
    assert harness.released(harness.reclaimable)
    assert again.done and gone.outcome in (ReclaimOutcome.ALREADY_GONE, ReclaimOutcome.FAILED)
    if owner is not None:
        assert owner.outcome is ReclaimOutcome.FAILED and "credential" in owner.message
        assert harness.owner is not None and not harness.released(harness.owner)


async def test_activity_since_is_exactly_what_happened_after(harness: Harness) -> None:
    if harness.activity_since is None:
        pytest.skip(f"{harness.kind} has no activity of its own")
    connector = connect(harness.settings, harness.kind)
    latest: dict[str, datetime] = {}
    try:
        events = connector.activity(harness.activity_since, harness.activity_until)
        async with contextlib.aclosing(events) as pages:
            async for page in pages:
                for event in page:
                    assert event.at > harness.activity_since
                    if event.external_id not in latest or event.at > latest[event.external_id]:
                        latest[event.external_id] = event.at
    finally:
        await connector.aclose()
    assert latest == harness.activity_after


async def test_bad_options_are_refused_with_the_option_named(harness: Harness) -> None:
    settings = ConnectorSettings(
        url=harness.settings.url,
        secrets=harness.settings.secrets,
        options={**harness.settings.options, "max_concurrency": "lots"},
    )
    with pytest.raises(ConnectorError, match="max_concurrency"):
        connect(settings, harness.kind)


def _marker(harness: Harness) -> str:
    """What identifies the reclaimable account in its requests (Okta's: the user id)."""
    return harness.reclaimable.rpartition(":")[2]


def _elsewhere(settings: ConnectorSettings, url: str) -> ConnectorSettings:
    return ConnectorSettings(url=url, secrets=settings.secrets, options=settings.options)


async def _reread_and_reclaim(harness: Harness, settings: ConnectorSettings) -> None:
    """A 404 that does not name the account is an error: the re-read raises (or reads the
    account through another route), never says "gone"; reclaim fails, never "already gone"."""
    connector = connect(settings, harness.kind)
    try:
        try:
            found = await connector.current(AccountRef(harness.reclaimable))
        except ConnectorError:
            found = "error"  # type: ignore[assignment]
        assert found is not None, "a 404 that does not name the account was read as gone"
        if found != "error":
            assert found.external_id == harness.reclaimable
        if connector_class(harness.kind).capabilities.reclaim:
            result = await connector.reclaim(AccountRef(harness.reclaimable))
            assert result.outcome is not ReclaimOutcome.ALREADY_GONE, result
    finally:
        await connector.aclose()


@pytest.mark.parametrize("page", ["html", "empty", "json"])
async def test_a_proxy_404_is_an_error_not_gone(harness: Harness, page: str) -> None:
    """Issue 15: a 404 answered by a proxy (HTML, empty, another JSON shape) for the account's
    own requests left the candidate "already gone" on every connector but Roadmunk."""
    from tests.connectors.proxy import proxy_404

    with proxy_404(harness.settings.url, {_marker(harness)}, page) as proxy:
        await _reread_and_reclaim(harness, _elsewhere(harness.settings, proxy.url))
    if connector_class(harness.kind).capabilities.reclaim:
        assert not harness.released(harness.reclaimable)


async def test_a_wrong_base_path_is_an_error_not_gone(harness: Harness) -> None:
    """The sandbox itself, asked under a base path it does not serve: its route 404s (Okta's
    E0000007 naming the path, Asana's and Starlette's pages) are not the account's."""
    await _reread_and_reclaim(
        harness, _elsewhere(harness.settings, harness.settings.url + "/not-the-api")
    )
    assert not harness.released(harness.reclaimable) or harness.kind == "scim"


async def test_the_apps_own_not_found_is_gone(harness: Harness) -> None:
    """The vendor's own answer for an account it does not know counts as gone (the re-read
    says None, reclaim says already gone where the app names the account)."""
    connector = connect(harness.settings, harness.kind)
    try:
        missing = await connector.current(AccountRef(harness.unknown))
        reclaimed = (
            await connector.reclaim(AccountRef(harness.unknown))
            if connector_class(harness.kind).capabilities.reclaim
            else None
        )
    finally:
        await connector.aclose()
    assert missing is None
    names_it = harness.kind in ("asana", "okta", "scim", "microsoft365", "google_workspace") or (
        harness.kind == "custom" and "acme" in harness.settings.options.get("spec", "").lower()
    )
    if names_it:
        assert reclaimed is not None and reclaimed.outcome is ReclaimOutcome.ALREADY_GONE, reclaimed
