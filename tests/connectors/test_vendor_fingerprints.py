"""Microsoft 365 and Google Workspace fingerprint their raw records (toolkit/fingerprints.py):
an unchanged re-sync maps no license; a license added or removed, a sign-in moved, an account
disabled or suspended, an admin role given is mapped and staged again; a download that fails
part way removes nothing. Over real HTTP against the sandboxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shelfware.connectors import google_workspace, microsoft365
from shelfware.connectors.google_workspace import GoogleWorkspaceConnector, assignment_key
from shelfware.connectors.microsoft365 import Microsoft365Connector, license_keys
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, Subscription
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.google import create_google_app, generate_domain
from shelfware.sandbox.microsoft365 import USER_ADMIN, create_m365_app, generate_tenant
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import SyncError, sync_profile

from ..conftest import NOW
from ..helpers import published

VAULT = "Google-Vault"
VAULT_SKU = "Google-Vault-Former-Employee"


class Breaker:
    """The sandbox, or a 400 for the requests `breaks` picks while `broken` (a download that
    fails part way: the pages before it were read)."""

    def __init__(self, app: ASGIApp, breaks: Callable[[Scope], bool]) -> None:
        self.app = app
        self.breaks = breaks
        self.broken = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.broken and scope["type"] == "http" and self.breaks(scope):
            response = JSONResponse({"error": {"code": "BadRequest", "message": "down"}}, 400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, key: str) -> list[str]:
    """Record the `key` of every raw record `module.name` (the mapping) is called with."""
    calls: list[str] = []
    mapping = getattr(module, name)

    def counted(raw: Any, *args: Any) -> Any:
        calls.append(raw[key])
        return mapping(raw, *args)

    monkeypatch.setattr(module, name, counted)
    return calls


def subscriptions(db: Database) -> dict[str, Subscription]:
    with db.sessions() as s:
        return {sub.external_id: sub for sub in s.scalars(select(Subscription))}


def rows(db: Database) -> dict[str, tuple[Any, ...]]:
    return {
        k: (s.display_name, s.admin, s.last_activity_at, s.gone_at, s.fingerprint)
        for k, s in subscriptions(db).items()
    }


async def synced_twice(
    db: Database, keys: KeyRing, clock: FrozenClock, name: str, licenses: int, calls: list[str]
) -> dict[str, tuple[Any, ...]]:
    """A first sync creates every license; an unchanged second one maps and stages nothing
    (`calls`: the mapping's, counted from the second sync on). The rows after them."""
    first = await sync_profile(db, keys, clock, name)
    assert first.created == first.accounts == licenses
    calls.clear()
    clock.advance(timedelta(hours=1))
    again = await sync_profile(db, keys, clock, name)
    assert again.unchanged == again.accounts == licenses
    assert (again.created, again.updated, again.gone) == (0, 0, 0)
    assert calls == []  # not one record mapped
    return rows(db)


# --------------------------------------------------------------------------- Microsoft 365


@pytest.fixture
def m365() -> Iterator[tuple[Any, Breaker, str]]:
    tenant = generate_tenant(400, 21, NOW)  # 4 pages of 120 users (signInActivity selected)
    app = create_m365_app(tenant, FaultSpec())
    breaker = Breaker(app, lambda scope: b"skiptoken" in scope["query_string"])
    with serve_in_thread(breaker) as server:
        yield tenant, breaker, server.url


async def publish_m365(db: Database, keys: KeyRing, clock: FrozenClock, tenant: Any, url: str):  # type: ignore[no-untyped-def]
    await published(
        db,
        keys,
        clock,
        ProfileCreate(
            kind="microsoft365",
            name="m365",
            url=f"{url}/v1.0",
            secrets={"client_id": tenant.client_id, "client_secret": tenant.client_secret},
            options={"tenant": tenant.tenant_id, "authority": url},
        ),
    )


async def test_m365_unchanged_users_are_not_mapped_and_every_change_is(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    m365: tuple[Any, Breaker, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, _, url = m365
    await publish_m365(db, keys, clock, tenant, url)
    licenses = sum(len(u.licenses) for u in tenant.users)
    calls = counting(monkeypatch, microsoft365, "map_user", "id")
    before = await synced_twice(db, keys, clock, "m365", licenses, calls)

    skus = [s.sku_id for s in tenant.skus]
    licensed = [u for u in tenant.users if u.licenses and u.enabled]
    admins = tenant.admin_ids()
    added = next(u for u in licensed if len(u.licenses) < len(skus))
    new_sku = next(s for s in skus if s not in added.licenses)
    added.licenses[new_sku] = None
    removed = next(u for u in licensed if u is not added and len(u.licenses) > 1)
    dropped = sorted(removed.licenses)[0]
    del removed.licenses[dropped]
    others = [u for u in licensed if u not in (added, removed) and u.id not in admins]
    moved, disabled, promoted = others[:3]
    moved.last_interactive = NOW
    disabled.enabled = False
    tenant.admins[USER_ADMIN].add(promoted.id)
    clock.advance(timedelta(hours=1))
    changed = await sync_profile(db, keys, clock, "m365")
    touched = (added, removed, moved, disabled, promoted)
    assert sorted(calls) == sorted(u.id for u in touched)
    assert changed.created == 1 and changed.gone == 1
    restaged = sum(len(u.licenses) for u in touched) - 1  # the new license is created
    assert changed.updated == restaged and changed.unchanged == licenses - 1 - restaged
    after = subscriptions(db)
    assert after[f"{added.id}:{new_sku}"].gone_at is None
    assert after[f"{removed.id}:{dropped}"].gone_at is not None
    assert all(after[f"{moved.id}:{s}"].last_activity_at is not None for s in moved.licenses)
    assert all(after[f"{promoted.id}:{s}"].admin for s in promoted.licenses)
    with db.sessions() as s:
        person = s.scalars(
            select(Person).where(Person.email == (disabled.mail or disabled.upn))
        ).one()
        assert person.idp_status == "SUSPENDED"
    untouched = {
        k: v for k, v in rows(db).items() if k.split(":")[0] not in {u.id for u in touched}
    }
    assert untouched == {k: v for k, v in before.items() if k in untouched}


async def test_m365_a_download_that_fails_part_way_removes_nothing(
    db: Database, keys: KeyRing, clock: FrozenClock, m365: tuple[Any, Breaker, str]
) -> None:
    tenant, breaker, url = m365
    await publish_m365(db, keys, clock, tenant, url)
    await sync_profile(db, keys, clock, "m365")
    before = rows(db)
    early = next(u for u in tenant.users[:100] if u.licenses)  # on page 1, read before the break
    dropped = sorted(early.licenses)[0]
    del early.licenses[dropped]
    breaker.broken = True  # pages 2 to 4 answer 400
    clock.advance(timedelta(hours=1))
    with pytest.raises(SyncError):
        await sync_profile(db, keys, clock, "m365")
    assert rows(db) == before  # nothing gone, nothing changed

    breaker.broken = False
    clock.advance(timedelta(hours=1))
    whole = await sync_profile(db, keys, clock, "m365")
    assert whole.gone == 1 and whole.created == 0
    assert subscriptions(db)[f"{early.id}:{dropped}"].gone_at is not None


def test_m365_license_keys_are_the_mapped_accounts() -> None:
    tenant = generate_tenant(60, 5, NOW)
    app = create_m365_app(tenant, FaultSpec())
    sandbox = app.state.sandbox
    from shelfware.sandbox.microsoft365 import render_user

    names = list(Microsoft365Connector.source_fingerprint.fields)  # type: ignore[union-attr]
    for user in tenant.users:
        raw = render_user(sandbox, user, names)
        mapped = microsoft365.map_user(raw, {}, set(), None)
        assert sorted(license_keys(raw)) == sorted(r.external_id for r in mapped)


# --------------------------------------------------------------------------- Google Workspace


@pytest.fixture
def google() -> Iterator[tuple[Any, Breaker, str]]:
    domain = generate_domain(150, 31, NOW)
    for user in domain.users[100:120]:  # a second product, listed after Google-Apps
        user.licenses[VAULT_SKU] = VAULT
    app = create_google_app(domain, FaultSpec())
    breaker = Breaker(app, lambda scope: f"/product/{VAULT}/" in scope["path"])
    with serve_in_thread(breaker) as server:
        domain.service_account["token_uri"] = f"{server.url}/token"
        yield domain, breaker, server.url


async def publish_google(db: Database, keys: KeyRing, clock: FrozenClock, domain: Any, url: str):  # type: ignore[no-untyped-def]
    await published(
        db,
        keys,
        clock,
        ProfileCreate(
            kind="google_workspace",
            name="google",
            url=url,
            secrets={"api_key": domain.api_key},
            options={
                "customer": domain.customer_id,
                "admin": domain.admin,
                "token_uri": f"{url}/token",
                "directory_url": url,
                "products": f"Google-Apps,{VAULT}",
                "backoff_base": "0.05",
            },
        ),
    )


async def test_google_unchanged_assignments_are_not_mapped_and_every_change_is(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    google: tuple[Any, Breaker, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    domain, _, url = google
    await publish_google(db, keys, clock, domain, url)
    licenses = sum(len(u.licenses) for u in domain.users)
    calls = counting(monkeypatch, google_workspace, "map_assignment", "userId")
    before = await synced_twice(db, keys, clock, "google", licenses, calls)

    licensed = [u for u in domain.users if u.licenses and not u.suspended and not u.is_admin]
    added, removed, moved, suspended, promoted = licensed[:5]
    new_sku = "1010020099"
    added.licenses[new_sku] = "Google-Apps"
    dropped = sorted(removed.licenses)[0]
    del removed.licenses[dropped]
    moved.last_login = NOW
    suspended.suspended = True
    promoted.is_admin = True
    clock.advance(timedelta(hours=1))
    changed = await sync_profile(db, keys, clock, "google")
    touched = (added, removed, moved, suspended, promoted)
    # the new license, and every license of a user whose directory entry changed; not the
    # licenses left to a user who lost one (their assignments did not change)
    expected = [added.email] + [u.email for u in (moved, suspended, promoted) for _ in u.licenses]
    assert sorted(calls) == sorted(expected)
    assert changed.created == 1 and changed.gone == 1
    after = subscriptions(db)
    assert after[f"Google-Apps:{new_sku}:{added.email}"].gone_at is None
    assert after[f"Google-Apps:{dropped}:{removed.email}"].gone_at is not None
    assert all(
        after[f"{p}:{s}:{moved.email}"].last_activity_at is not None
        for s, p in moved.licenses.items()
    )
    assert all(after[f"{p}:{s}:{promoted.email}"].admin for s, p in promoted.licenses.items())
    emails = {u.email for u in touched}
    untouched = {k: v for k, v in rows(db).items() if k.split(":")[2] not in emails}
    assert untouched == {k: v for k, v in before.items() if k in untouched}


async def test_google_a_download_that_fails_part_way_removes_nothing(
    db: Database, keys: KeyRing, clock: FrozenClock, google: tuple[Any, Breaker, str]
) -> None:
    domain, breaker, url = google
    await publish_google(db, keys, clock, domain, url)
    await sync_profile(db, keys, clock, "google")
    before = rows(db)
    user = next(u for u in domain.users if u.licenses and VAULT not in u.licenses.values())
    dropped = sorted(user.licenses)[0]
    del user.licenses[dropped]  # on Google-Apps' list, read before the break
    breaker.broken = True  # the Google-Vault list answers 400
    clock.advance(timedelta(hours=1))
    with pytest.raises(SyncError):
        await sync_profile(db, keys, clock, "google")
    assert rows(db) == before

    breaker.broken = False
    clock.advance(timedelta(hours=1))
    whole = await sync_profile(db, keys, clock, "google")
    assert whole.gone == 1 and whole.created == 0
    assert subscriptions(db)[f"Google-Apps:{dropped}:{user.email}"].gone_at is not None


def test_google_assignment_keys_are_the_mapped_accounts() -> None:
    kit = GoogleWorkspaceConnector.source_fingerprint
    assert kit is not None
    raw = {"userId": "Ann@Example.com", "productId": "Google-Apps", "skuId": "1", "skuName": "S"}
    assert assignment_key(raw) == google_workspace.map_assignment(raw, {}).external_id
    before = kit.fingerprint(raw, b"")
    for name in kit.fields:
        assert kit.fingerprint({**raw, name: raw[name] + "x"}, b"") != before, name
