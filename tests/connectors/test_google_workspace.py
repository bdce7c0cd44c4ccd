"""Google Workspace end to end over real HTTP against the sandbox: license assignments as
subscriptions, candidates (suspended users have left), reclaim through
licenseAssignments.delete, the next sync closing them; quotas and the token endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from shelfware.connectors.base import AuthenticationError, ConnectorSettings
from shelfware.connectors.registry import build_connector
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.kit.http import HttpPolicy
from shelfware.models import ReclamationRule, SoftwareModel, Subscription
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation.service import list_candidates, reclaim_candidates
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.google import (
    SKUS,
    USERS_READ_SCOPE,
    GoogleDomain,
    GoogleSandbox,
    create_google_app,
    generate_domain,
)
from shelfware.sandbox.server import serve_in_thread
from shelfware.sync.service import sync_profile

from ..conftest import NOW
from ..helpers import published, wide_cap


@dataclass
class Google:
    domain: GoogleDomain
    state: GoogleSandbox
    url: str


@pytest.fixture
def google() -> Iterator[Google]:
    domain = generate_domain(150, 31, NOW)
    app = create_google_app(domain, FaultSpec())
    with serve_in_thread(app) as server:
        yield Google(domain, app.state.sandbox, server.url)


def settings(g: Google, **options: str) -> ConnectorSettings:
    return ConnectorSettings(
        url=g.url,
        secrets={"api_key": g.domain.api_key},
        options={
            "customer": g.domain.customer_id,
            "admin": g.domain.admin,
            "token_uri": f"{g.url}/token",
            "directory_url": g.url,
            "backoff_base": "0.05",
            **options,
        },
    )


async def publish(db: Database, keys: KeyRing, clock: FrozenClock, g: Google) -> None:
    s = settings(g)
    await published(
        db,
        keys,
        clock,
        ProfileCreate(
            kind="google_workspace",
            name="google",
            url=s.url,
            secrets=dict(s.secrets),
            options=dict(s.options),
        ),
    )


def held(domain: GoogleDomain) -> set[str]:
    return {f"{p}:{s}:{u.email}" for u in domain.users for s, p in u.licenses.items()}


async def test_licenses_candidates_reclaim_and_the_next_sync_closes_them(
    db: Database, keys: KeyRing, clock: FrozenClock, google: Google
) -> None:
    await publish(db, keys, clock, google)
    await sync_profile(db, keys, clock, "google")
    domain = google.domain
    with db.sessions() as session:
        subs = {s.external_id: s for s in session.scalars(select(Subscription))}
        models = {m.id: m for m in session.scalars(select(SoftwareModel))}
        rules = {
            models[r.software_model_id].edition: r for r in session.scalars(select(ReclamationRule))
        }
    assert set(subs) == held(domain)  # exactly the license assignments
    names = dict(SKUS)
    for key, sub in subs.items():
        model = models[sub.software_model_id]
        sku = key.split(":")[1]
        assert (model.publisher, model.product, model.edition) == ("Google", names[sku], sku)
        user = domain.user(key.split(":")[2])
        assert user is not None and sub.admin == user.is_admin
    # candidates: suspended users have left; others idle past the SKU's rule, admins excluded
    expected: dict[str, tuple[str, str]] = {}
    for user in domain.users:
        for sku, product in user.licenses.items():
            rule = rules[sku]
            cutoff = NOW - timedelta(days=rule.threshold_days)
            key = f"{product}:{sku}:{user.email}"
            if user.suspended:
                expected[key] = ("ready", "left the organisation")
            elif user.is_admin and rule.exclude_admins:
                continue
            elif user.last_login is not None and user.last_login < cutoff:
                expected[key] = ("ready", "low_usage")
            elif user.last_login is None and (not rule.new_account_grace or user.created <= cutoff):
                expected[key] = ("ready", "never_used")
    with db.sessions() as session:
        found = list_candidates(session)
    assert {c.external_id: (c.state, c.justification) for c in found} == expected
    assert {j for _, j in expected.values()} >= {"left the organisation", "low_usage"}
    outcomes = await reclaim_candidates(db, keys, clock, all_ready=True, settings=wide_cap())
    assert {o.action for o in outcomes} == {"reclaimed"}
    removed = {f"Google-Apps:{sku}:{email}" for email, sku in google.state.removed}
    assert removed == set(expected) and google.state.deletes == len(expected)
    await sync_profile(db, keys, clock, "google")
    with db.sessions() as session:
        closed = list_candidates(session, state="closed_complete")
    assert {c.external_id for c in closed} == set(expected)


async def test_quota_answers_are_waited_out_with_backoff(google: Google) -> None:
    """Google asks for exponential backoff: a 403 rateLimitExceeded (which only its reason
    tells from a refusal) and a 429 are retried; the download completes."""
    google.state.throttle_next = [(403, "rateLimitExceeded"), (429, "rateLimitExceeded")]
    google.state.throttle_next += [(403, "userRateLimitExceeded")]
    connector = build_connector(
        "google_workspace", settings(google), policy=HttpPolicy(backoff_cap=0.05)
    )
    try:
        records = [r async for page in connector.accounts() for r in page]
    finally:
        await connector.aclose()
    assert {r.external_id for r in records} == held(google.domain)
    assert google.state.throttled == [403, 429, 403]
    quota = connector.quota  # type: ignore[attr-defined]
    assert quota.backoffs == 2 and quota.waited >= 2 * 0.05  # at least the base, each


async def test_a_delegation_without_a_scope_is_refused_not_retried(google: Google) -> None:
    """Domain-wide delegation that lacks a scope the connector needs: the token endpoint says
    unauthorized_client, validation names it, nothing is retried as if it were a quota."""
    google.domain.delegated_scopes.discard(USERS_READ_SCOPE)
    connector = build_connector("google_workspace", settings(google))
    try:
        report = await connector.validate()
    finally:
        await connector.aclose()
    assert not report.ok
    assert "unauthorized_client" in str(report.checks)
    assert connector.quota.backoffs == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"admin": "person00001@example.org"}, "unauthorized_client"),  # not an admin
        ({"token_uri": "/elsewhere"}, "invalid_grant"),  # the assertion's aud is not the endpoint
    ],
)
async def test_the_token_endpoint_checks_what_google_checks(
    google: Google, change: dict[str, str], error: str
) -> None:
    good = settings(google)
    options = dict(good.options)
    if change.get("token_uri"):
        key = {**google.domain.service_account, "token_uri": f"{google.url}/token"}
        options["token_uri"] = f"{google.url}/token"

        # an assertion made for another audience: sign it ourselves
        from google.auth import crypt
        from google.auth import jwt as google_jwt

        signer = crypt.RSASigner.from_service_account_info(key)
        now = int(NOW.timestamp())
        assertion = google_jwt.encode(
            signer,
            {
                "iss": key["client_email"],
                "sub": google.domain.admin,
                "scope": USERS_READ_SCOPE,
                "aud": "https://login.example.com/token",
                "iat": now,
                "exp": now + 3600,
            },
        ).decode()
        import httpx

        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{google.url}/token",
                data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": assertion,
                },
            )
        assert answer.status_code == 400 and answer.json()["error"] == error
        return
    options.update(change)
    connector = build_connector(
        "google_workspace", ConnectorSettings(good.url, secrets=good.secrets, options=options)
    )
    try:
        with pytest.raises(AuthenticationError, match=error):
            await connector.directory()  # type: ignore[attr-defined]
    finally:
        await connector.aclose()
    assert google.state.tokens_issued == 0
