"""Microsoft 365 end to end over real HTTP against the sandbox: licenses held as subscriptions,
seats owned as vendor-managed entitlements, candidates, reclaim through assignLicense (never for
group-inherited licenses), the next sync closing them; throttling and the token endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from shelfware.connectors.base import (
    AccountRef,
    AuthenticationError,
    ConnectorSettings,
    ReclaimOutcome,
)
from shelfware.connectors.microsoft365 import GROUP_TASK, KNOWN_SKUS
from shelfware.connectors.registry import build_connector
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.kit.http import HttpPolicy
from shelfware.licensing import entitlements as ents
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementUpdate
from shelfware.models import Entitlement, Person, ReclamationRule, SoftwareModel, Subscription
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation.service import list_candidates, reclaim_candidates
from shelfware.sandbox.faults import FaultSpec, parse_faults
from shelfware.sandbox.microsoft365 import (
    GraphSandbox,
    M365Tenant,
    create_m365_app,
    generate_tenant,
)
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import SyncError, sync_profile

from ..conftest import NOW
from ..helpers import published, wide_cap


@dataclass
class M365:
    tenant: M365Tenant
    state: GraphSandbox
    url: str


def running(faults: FaultSpec = FaultSpec(), users: int = 120) -> Iterator[M365]:
    tenant = generate_tenant(users, 21, NOW)
    app = create_m365_app(tenant, faults)
    with serve_in_thread(app) as server:
        yield M365(tenant, app.state.sandbox, server.url)


@pytest.fixture
def m365() -> Iterator[M365]:
    yield from running()


def settings(m: M365, **options: str) -> ConnectorSettings:
    return ConnectorSettings(
        url=f"{m.url}/v1.0",
        secrets={"client_id": m.tenant.client_id, "client_secret": m.tenant.client_secret},
        options={"tenant": m.tenant.tenant_id, "authority": m.url, **options},
    )


async def publish(db: Database, keys: KeyRing, clock: FrozenClock, m: M365, **options: str) -> None:
    s = settings(m, **options)
    data = ProfileCreate(
        kind="microsoft365",
        name="m365",
        url=s.url,
        secrets=dict(s.secrets),
        options=dict(s.options),
    )
    await published(db, keys, clock, data)


def held(tenant: M365Tenant) -> dict[str, bool]:
    """`USER:SKU` -> inherited from a group, restated from the tenant."""
    return {
        f"{u.id}:{sku}": group is not None
        for u in tenant.users
        for sku, group in u.licenses.items()
    }


def expected_candidates(
    tenant: M365Tenant, rules: dict[str, ReclamationRule]
) -> dict[str, tuple[str, str]]:
    """`USER:SKU` -> (state, justification): disabled users have left; otherwise idle past the
    SKU's rule threshold (never used past the grace), admins excluded."""
    admins = tenant.admin_ids()
    expected: dict[str, tuple[str, str]] = {}
    for user in tenant.users:
        seen = [
            t
            for t in (user.last_interactive, user.last_non_interactive, user.last_successful)
            if t is not None
        ]
        last = max(seen) if seen else None
        for sku, group in user.licenses.items():
            rule = rules[sku]
            state = "attention_required" if group else "ready"
            cutoff = NOW - timedelta(days=rule.threshold_days)
            key = f"{user.id}:{sku}"
            if not user.enabled:
                expected[key] = (state, "left the organisation")
            elif user.id in admins and rule.exclude_admins:
                continue
            elif last is not None and last < cutoff:
                expected[key] = (state, "low_usage")
            elif last is None and (not rule.new_account_grace or user.created <= cutoff):
                expected[key] = (state, "never_used")
    return expected


def rules_by_sku(db: Database, tenant: M365Tenant) -> dict[str, ReclamationRule]:
    parts = {s.part_number: s.sku_id for s in tenant.skus}
    with db.sessions() as session:
        models = {m.id: m for m in session.scalars(select(SoftwareModel))}
        return {
            parts[models[r.software_model_id].edition]: r
            for r in session.scalars(select(ReclamationRule))
            if models[r.software_model_id].edition in parts  # not the profile's default model
        }


async def test_licenses_are_subscriptions_and_seats_owned_are_entitlements(
    db: Database, keys: KeyRing, clock: FrozenClock, m365: M365
) -> None:
    await publish(db, keys, clock, m365)
    await sync_profile(db, keys, clock, "m365")
    tenant = m365.tenant
    admins = tenant.admin_ids()
    expected = held(tenant)
    with db.sessions() as session:
        subs = {s.external_id: s for s in session.scalars(select(Subscription))}
        models = {m.id: m for m in session.scalars(select(SoftwareModel))}
        owned = list(session.scalars(select(Entitlement)))
    assert set(subs) == set(expected)  # exactly the assigned licenses
    assert any(expected.values()) and not all(expected.values())
    for key, by_group in expected.items():
        sub = subs[key]
        model = models[sub.software_model_id]
        sku = next(s for s in tenant.skus if key.endswith(s.sku_id))
        assert (model.publisher, model.product, model.edition) == (
            "Microsoft",
            KNOWN_SKUS[sku.part_number],
            sku.part_number,
        )
        assert sub.group_scoped == by_group
        assert sub.admin == (key.split(":")[0] in admins)
        assert sub.active
    # seats owned: one vendor-managed entitlement per SKU, the vendor's prepaid units, no price
    by_ref = {e.vendor_ref: e for e in owned}
    assert {ref: e.seats for ref, e in by_ref.items()} == {s.sku_id: s.prepaid for s in tenant.skus}
    assert all(e.profile_id is not None and e.unit_cost is None for e in owned)
    with db.sessions() as session:
        rows = {r.edition: r for r in licensing.reconcile(session, NOW)}
    for sku in tenant.skus:
        assert rows[sku.part_number].rights_owned == sku.prepaid
        assert rows[sku.part_number].rights_used == tenant.consumed(sku.sku_id)
        assert rows[sku.part_number].unit_cost is None
        assert "no price" in (rows[sku.part_number].note or "")
    # the quantity is the vendor's: an edit is refused; a price is the admin's to give
    first = owned[0]
    with db.transaction() as session, pytest.raises(ents.LicensingInvalid, match="vendor"):
        ents.edit_entitlement(session, clock, EntitlementUpdate(id=first.id, seats=1))
    with db.transaction() as session:
        ents.edit_entitlement(
            session, clock, EntitlementUpdate(id=first.id, unit_cost=Decimal("36"))
        )
    # the vendor sells more seats and drops a SKU: the next sync follows
    tenant.skus[0] = type(tenant.skus[0])(
        tenant.skus[0].sku_id, tenant.skus[0].part_number, tenant.skus[0].prepaid + 25
    )
    dropped = tenant.skus.pop()
    await sync_profile(db, keys, clock, "m365")
    with db.sessions() as session:
        again = {e.vendor_ref: e for e in session.scalars(select(Entitlement))}
    assert again[tenant.skus[0].sku_id].seats == tenant.skus[0].prepaid
    assert again[first.vendor_ref].unit_cost == Decimal("36")  # the admin's price is kept
    assert again[dropped.sku_id].term_end is not None


async def test_candidates_then_reclaim_removes_exactly_the_direct_licenses(
    db: Database, keys: KeyRing, clock: FrozenClock, m365: M365
) -> None:
    await publish(db, keys, clock, m365)
    await sync_profile(db, keys, clock, "m365")
    tenant = m365.tenant
    expected = expected_candidates(tenant, rules_by_sku(db, tenant))
    assert {s for s, _ in expected.values()} == {"ready", "attention_required"}
    assert {j for _, j in expected.values()} >= {"low_usage", "left the organisation"}
    with db.sessions() as session:
        found = list_candidates(session)
    assert {c.external_id: (c.state, c.justification) for c in found} == expected
    for candidate in found:
        if candidate.state == "attention_required":
            assert candidate.reason == GROUP_TASK
    outcomes = await reclaim_candidates(db, keys, clock, all_ready=True, settings=wide_cap())
    assert {o.action for o in outcomes} == {"reclaimed"}
    removed = {f"{u}:{sku}" for u, sku in m365.state.removed}
    ready = {k for k, (state, _) in expected.items() if state == "ready"}
    assert removed == ready
    assert m365.state.assign_calls == len(ready)  # group-inherited ones never attempted
    # the next sync sees the licenses gone and closes those candidates as complete
    await sync_profile(db, keys, clock, "m365")
    with db.sessions() as session:
        closed = list_candidates(session, state="closed_complete")
        rows = {r.edition: r for r in licensing.reconcile(session, NOW)}
    assert {c.external_id for c in closed} == ready
    for sku in tenant.skus:
        assert rows[sku.part_number].rights_used == tenant.consumed(sku.sku_id)


async def test_without_sign_in_activity_the_usage_report_gives_activity(
    db: Database, keys: KeyRing, clock: FrozenClock, m365: M365
) -> None:
    """A tenant without Entra ID P1 refuses signInActivity (403): the D30 usage report is read
    instead (per-product dates; the latest counts, to the end of its day)."""
    m365.tenant.premium = False
    await publish(db, keys, clock, m365, prices="SPE_E3=36/month,VISIOCLIENT=180")
    await sync_profile(db, keys, clock, "m365")
    by_upn = {u.upn: u for u in m365.tenant.users}
    with db.sessions() as session:
        subs = list(session.scalars(select(Subscription)))
        prices = {
            e.vendor_ref: (e.unit_cost, e.billing_period)
            for e in session.scalars(select(Entitlement))
        }
    for sub in subs:
        user = by_upn[sub.username or ""]
        if user.last_successful is None:
            assert sub.last_activity_at is None
        else:
            assert sub.last_activity_at is not None
            assert sub.last_activity_at.date() == user.last_successful.date()
    # reclaim re-reads each candidate first: one report for all of them, not one each
    calls = m365.state.report_calls
    outcomes = await reclaim_candidates(db, keys, clock, all_ready=True, settings=wide_cap())
    assert len(outcomes) > 5 and {o.action for o in outcomes} == {"reclaimed"}
    assert m365.state.report_calls - calls <= 1
    parts = {s.part_number: s.sku_id for s in m365.tenant.skus}
    assert prices[parts["SPE_E3"]] == (Decimal("36"), "monthly")
    assert prices[parts["VISIOCLIENT"]] == (Decimal("180"), "annual")
    assert prices[parts["SPE_E5"]] == (None, "annual")


async def test_a_concealed_usage_report_fails_the_sync_instead_of_idling_everyone(
    db: Database, keys: KeyRing, clock: FrozenClock, m365: M365
) -> None:
    """Microsoft 365 conceals user names in reports by default: hashed names match nobody, so
    read as is every licensed user would look never used. The sync refuses, changing nothing."""
    await publish(db, keys, clock, m365)
    await sync_profile(db, keys, clock, "m365")
    with db.sessions() as session:
        before = len(list_candidates(session))
    m365.tenant.premium = False
    m365.tenant.conceal_reports = True
    with pytest.raises(SyncError, match="conceals user names"):
        await sync_profile(db, keys, clock, "m365")
    with db.sessions() as session:
        assert len(list_candidates(session)) == before


async def test_import_people_off_leaves_the_directory_to_another_provider(
    db: Database, keys: KeyRing, clock: FrozenClock, m365: M365
) -> None:
    """With `import_people=false` (Okta is the directory) no person gets a status from
    Microsoft 365: a disabled user's licenses are candidates only when idle."""
    await publish(db, keys, clock, m365, import_people="false")
    summary = await sync_profile(db, keys, clock, "m365")
    assert summary.people is None
    with db.sessions() as session:
        found = list_candidates(session)
        statuses = set(session.scalars(select(Person.idp_status)))
    assert statuses == {None}
    assert all(c.justification != "left the organisation" for c in found)


async def test_throttling_is_honoured_and_the_token_is_cached() -> None:
    """Page 2 answers 429 with Retry-After twice: the download waits and completes; one token
    serves every request."""
    faults = parse_faults("rate_limit_page=2,rate_limit_times=2,retry_after=0.3")
    for m in running(faults, users=400):
        connector = build_connector("microsoft365", settings(m), policy=HttpPolicy(max_retries=4))
        try:
            records = [r async for page in connector.accounts() for r in page]
        finally:
            await connector.aclose()
        assert {r.external_id for r in records} == set(held(m.tenant))
        assert connector.stats.waited_seconds >= 0.5
        assert connector.stats.retries >= 2
        assert m.state.tokens_issued == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_secret": "wrong~secret"}, "AADSTS7000215"),
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, "AADSTS700016"),
        ({"tenant": "someone-else.example"}, "AADSTS90002"),
    ],
)
async def test_the_token_endpoint_refuses_what_the_real_one_refuses(
    m365: M365, change: dict[str, str], error: str
) -> None:
    good = settings(m365)
    secrets = {**good.secrets, **{k: v for k, v in change.items() if k != "tenant"}}
    options = {**good.options, **{k: v for k, v in change.items() if k == "tenant"}}
    connector = build_connector(
        "microsoft365", ConnectorSettings(good.url, secrets=secrets, options=options)
    )
    try:
        report = await connector.validate()
        with pytest.raises(AuthenticationError, match=error):
            await asyncio.wait_for(connector.skus(), 10)  # type: ignore[attr-defined]
    finally:
        await connector.aclose()
    assert not report.ok
    assert m365.state.tokens_issued == 0


async def test_a_wrong_scope_is_refused(m365: M365) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{m365.url}/{m365.tenant.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": m365.tenant.client_id,
                "client_secret": m365.tenant.client_secret,
                "scope": "https://graph.microsoft.com/User.Read.All",
            },
        )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"


def certificate_pem(name: str) -> tuple[bytes, str]:
    """A self-signed certificate (PEM) and the PEM of its private key followed by it, as an
    app registration's certificate credential is exported."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, (key_pem + cert_pem).decode()


async def test_a_certificate_credential_signs_a_client_assertion(m365: M365) -> None:
    """Instead of a secret, a PEM (key and certificate): the token request carries an RS256
    client assertion the sandbox verifies against the registered certificate; an unregistered
    certificate is refused with the platform's error."""
    registered, credential = certificate_pem("shelfware")
    _, stranger = certificate_pem("someone else")
    m365.tenant.certificates.append(registered)
    good = settings(m365)
    for pem, works in ((credential, True), (stranger, False)):
        connector = build_connector(
            "microsoft365",
            ConnectorSettings(
                good.url,
                secrets={"client_id": m365.tenant.client_id, "api_key": pem},
                options=good.options,
            ),
        )
        try:
            if works:
                records = [r async for page in connector.accounts() for r in page]
                assert {r.external_id for r in records} == set(held(m365.tenant))
            else:
                with pytest.raises(AuthenticationError, match="AADSTS700027") as refused:
                    await connector.validate()
                    await connector.skus()  # type: ignore[attr-defined]
                assert "PRIVATE KEY" not in str(refused.value)
        finally:
            await connector.aclose()
    assert m365.state.tokens_issued == 1


async def test_graph_throttling_429_and_503_wait_as_retry_after_says(m365: M365) -> None:
    """Graph's own throttling shapes: 429 TooManyRequests and 503 serviceNotAvailable, each
    with Retry-After: the client waits that long and the download completes."""
    m365.state.throttle_next = [(429, 0.4), (503, 0.3), (429, 0.2)]
    connector = build_connector(
        "microsoft365", settings(m365), policy=HttpPolicy(max_retries=4, backoff_cap=0.01)
    )
    started = time.monotonic()
    try:
        records = [r async for page in connector.accounts() for r in page]
    finally:
        await connector.aclose()
    elapsed = time.monotonic() - started
    assert {r.external_id for r in records} == set(held(m365.tenant))
    assert [s for s, _ in m365.state.throttled] == [429, 503, 429]
    assert connector.stats.retries == 3
    assert connector.stats.waited_seconds >= 0.59  # the 429s' Retry-After (0.4 + 0.2)
    # each throttled request came again no sooner than its Retry-After (0.4, 0.3, 0.2; the
    # first reads go at once, so their waits overlap): backoff alone would be 0.01 at most
    seen = m365.state.seen
    gaps = [
        next(t for t, w, _ in seen[i + 1 :] if w == where) - at
        for i, (at, where, status) in enumerate(seen)
        if status
    ]
    assert [g >= wait - 0.01 for g, wait in zip(gaps, (0.4, 0.3, 0.2), strict=True)] == [True] * 3
    assert elapsed >= 0.39


async def test_validation_says_whether_reclaim_is_granted(m365: M365) -> None:
    """Validation never writes, but the token's roles say whether assignLicense will be
    allowed; without LicenseAssignment.ReadWrite.All reclaim fails with Graph's 403."""
    connector = build_connector("microsoft365", settings(m365))
    try:
        report = await connector.validate()
    finally:
        await connector.aclose()
    assert report.ok and "granted: LicenseAssignment.ReadWrite.All" in report.facts["reclaim"]
    m365.tenant.roles.discard("LicenseAssignment.ReadWrite.All")
    connector = build_connector("microsoft365", settings(m365))
    victim = next(k for k, by_group in held(m365.tenant).items() if not by_group)
    try:
        report = await connector.validate()
        refused = await connector.reclaim(AccountRef(victim))
    finally:
        await connector.aclose()
    assert report.ok and "NOT granted" in report.facts["reclaim"]
    assert refused.outcome is ReclaimOutcome.FAILED and "LicenseAssignment" in refused.message
    assert m365.state.removed == []
