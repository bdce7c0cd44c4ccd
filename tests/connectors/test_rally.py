"""The Rally connector over real HTTP against the Rally sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    ActivitySource,
    Connector,
    ConnectorError,
    ConnectorSettings,
    PageError,
    Process,
    ReclaimOutcome,
    RequestStats,
)
from shelfware.connectors.rally import (
    RALLY_MAX_CONCURRENCY,
    RallyConnector,
    activity_query,
    rally_api_url,
)
from shelfware.connectors.toolkit import ApiKeyAuth
from shelfware.kit.http import HttpPolicy
from shelfware.sandbox.faults import FaultSpec, parse_faults
from shelfware.sandbox.org import Organisation, SyntheticUser, generate_org
from shelfware.sandbox.rally import create_rally_app
from shelfware.sandbox.server import RunningServer, serve_in_thread

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = HttpPolicy(backoff_base=0.005, backoff_cap=0.02, read_timeout=10, max_retries=5)

# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def sandbox(
    org: Organisation, faults: FaultSpec | None = None, latency_ms: float = 0
) -> Iterator[tuple[RunningServer, Any]]:
    app = create_rally_app(org, faults=faults or FaultSpec(), latency_ms=latency_ms)
    with serve_in_thread(app) as server:
        yield server, app.state.sandbox


def settings_for(url: str, api_key: str, **options: str) -> ConnectorSettings:
    return ConnectorSettings(
        url=f"{url}/slm/webservice", secrets={"api_key": api_key}, options=options
    )


def connector_for(
    server: RunningServer,
    org: Organisation,
    policy: HttpPolicy = FAST,
    api_key: str | None = None,
    **options: str,
) -> RallyConnector:
    return RallyConnector(
        settings_for(server.url, api_key or org.api_key, **options), policy=policy
    )


async def all_pages(connector: RallyConnector) -> list[list[AccountRecord]]:
    pages = []
    async with contextlib.aclosing(connector.accounts()) as stream:
        async for page in stream:
            pages.append(page)
    return pages


def expected_record(user: SyntheticUser) -> AccountRecord:
    display = user.display_name or f"{user.first_name} {user.last_name}"
    return AccountRecord(
        external_id=str(user.object_id),
        username=user.username,
        email=user.email or None,
        display_name=display,
        active=not user.disabled,
        admin=user.subscription_admin
        or user.permission in ("Subscription Admin", "Workspace Admin"),
        edition=None,
        created_in_app_at=user.creation_date,
        last_activity_at=user.last_activity,
    )


@pytest.fixture(scope="module")
def small_org() -> Organisation:
    return generate_org(60, seed=3, now=NOW)


@pytest.fixture(scope="module")
def mid_org() -> Organisation:
    return generate_org(2_500, seed=11, now=NOW)


# --------------------------------------------------------------------------- contract


def test_connector_declares_the_contract() -> None:
    assert isinstance(RallyConnector, type)
    assert RallyConnector.kind == "rally"
    assert RallyConnector.publisher == "Broadcom"
    assert RallyConnector.product == "Rally"
    assert RallyConnector.default_edition == "Unlimited"
    assert RallyConnector.default_url == "https://rally1.rallydev.com/slm/webservice"
    caps = RallyConnector.capabilities
    assert (caps.download, caps.activity, caps.reclaim) == (True, True, True)
    assert caps.activity_source is ActivitySource.ACCOUNT_FIELD
    assert {(p.process, p.role, p.scopes) for p in RallyConnector.permissions} == {
        (process, "Workspace Admin", ()) for process in Process
    }
    connector = RallyConnector(ConnectorSettings(url="", secrets={"api_key": "_k"}))
    assert isinstance(connector, Connector)
    assert connector.api_url == "https://rally1.rallydev.com/slm/webservice/v2.0"
    assert isinstance(connector.stats, RequestStats)


def test_api_url_and_query_syntax() -> None:
    base = "https://rally1.rallydev.com/slm/webservice"
    assert rally_api_url(base) == base + "/v2.0"
    assert rally_api_url(base + "/v2.0/") == base + "/v2.0"
    assert rally_api_url("", "eu") == "https://eu1.rallydev.com/slm/webservice/v2.0"
    assert activity_query(datetime(2026, 1, 1, tzinfo=UTC)) == (
        '((LastLoginDate > "2026-01-01T00:00:00.000Z") '
        'OR (LastActiveDate > "2026-01-01T00:00:00.000Z"))'
    )


def test_concurrency_and_page_size_options() -> None:
    def build(policy: HttpPolicy | None = None, **options: str) -> RallyConnector:
        return RallyConnector(
            ConnectorSettings(url="", secrets={"api_key": "_k"}, options=options), policy=policy
        )

    assert build().concurrency == RALLY_MAX_CONCURRENCY == 12
    assert build(max_concurrency="4").concurrency == 4
    assert build(max_concurrency="50").concurrency == 12
    assert build(HttpPolicy(max_concurrency=40)).concurrency == 12
    assert build(HttpPolicy(max_concurrency=3), max_concurrency="6").concurrency == 3
    assert build().page_size == 2000
    assert build(page_size="9000").page_size == 2000
    assert build(page_size="250").page_size == 250
    with pytest.raises(ConnectorError, match="max_concurrency"):
        build(max_concurrency="lots")
    with pytest.raises(ConnectorError, match="needs an API token"):
        RallyConnector(ConnectorSettings(url=""))


def test_oauth_access_token_is_preferred() -> None:
    connector = RallyConnector(
        ConnectorSettings(url="", secrets={"api_key": "_key1", "access_token": "tok-123"})
    )
    auth = connector.http.auth
    assert isinstance(auth, ApiKeyAuth) and auth.name == "ZSESSIONID" and not auth.prefix
    assert asyncio.run(auth.source.token()) == "tok-123"
    assert connector.http.redactor.redact("_key1 tok-123") == "*** ***"


# --------------------------------------------------------------------------- validate


async def test_validate_identifies_the_owner(small_org: Organisation) -> None:
    with sandbox(small_org) as (server, state):
        connector = connector_for(server, small_org)
        try:
            report = await connector.validate()
        finally:
            await connector.aclose()
        assert state.disable_calls == 0
    assert report.ok, report.checks
    owner = small_org.owner
    assert report.credential_owner is not None
    assert report.credential_owner.external_id == str(owner.object_id)
    assert report.credential_owner.username == owner.username
    assert report.credential_owner.email == owner.email
    assert report.facts["account_count"] == len(small_org.users)
    assert report.facts["permission"] == "Subscription Admin"
    names = {check.name for check in report.checks}
    assert {"credential", "permission", "download", "activity"} <= names


async def test_validate_reports_401_as_a_failed_check(small_org: Organisation) -> None:
    wrong_key = "_wrong0123456789abcdef0123456789abcdef"
    with sandbox(small_org) as (server, _state):
        connector = connector_for(server, small_org, api_key=wrong_key)
        try:
            report = await connector.validate()
        finally:
            await connector.aclose()
    assert not report.ok
    credential = next(c for c in report.checks if c.name == "credential")
    assert not credential.ok
    assert credential.detail.startswith("credential rejected (401)")
    assert report.credential_owner is None
    assert wrong_key not in repr(report)


async def test_validate_names_a_role_below_workspace_admin() -> None:
    org = generate_org(20, seed=5, now=NOW)
    org.owner.subscription_admin = False
    org.owner.permission = "Project Admin"
    with sandbox(org) as (server, _state):
        connector = connector_for(server, org)
        try:
            report = await connector.validate()
        finally:
            await connector.aclose()
    assert not report.ok
    permission = next(c for c in report.checks if c.name == "permission")
    assert not permission.ok
    assert "Project Admin" in permission.detail and "Workspace Admin" in permission.detail
    assert report.credential_owner is not None  # still identified


async def test_validate_network_error_is_a_failed_check() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    key = "_unreachable0123456789abcdef"
    connector = RallyConnector(
        settings_for(f"http://127.0.0.1:{port}", key), policy=HttpPolicy(max_retries=1)
    )
    try:
        report = await connector.validate()
    finally:
        await connector.aclose()
    assert not report.ok
    credential = next(c for c in report.checks if c.name == "credential")
    assert "ConnectError" in credential.detail
    assert key not in repr(report)


# --------------------------------------------------------------------------- accounts


async def test_accounts_cover_every_user_once_in_order(mid_org: Organisation) -> None:
    with sandbox(mid_org) as (server, _state):
        connector = connector_for(server, mid_org, page_size="300")
        try:
            pages = await all_pages(connector)
        finally:
            await connector.aclose()
    assert len(pages) == math.ceil(len(mid_org.users) / 300)
    assert connector.stats.pages == len(pages)
    records = [record for page in pages for record in page]
    assert [r.external_id for r in records] == [str(u.object_id) for u in mid_org.users]
    assert records == [expected_record(u) for u in mid_org.users]
    # the dates are aware UTC datetimes
    assert all(r.created_in_app_at and r.created_in_app_at.tzinfo is not None for r in records)
    assert sum(not r.active for r in records) == sum(u.disabled for u in mid_org.users)


async def test_pages_are_fetched_in_parallel_but_never_above_12() -> None:
    org = generate_org(20_000, seed=21, now=NOW)
    with sandbox(org, latency_ms=50) as (server, state):
        connector = connector_for(server, org, page_size="500")
        try:
            pages = await all_pages(connector)
        finally:
            await connector.aclose()
        max_in_flight = state.max_in_flight
        throttled = state.throttled
    assert len(pages) == 40
    assert sum(len(p) for p in pages) == 20_000
    assert 1 < max_in_flight <= 12
    assert throttled == 0
    assert connector.http.max_in_flight <= 12
    # parallelism shows in max_in_flight > 1; wall time depends on the machine's load


async def test_per_profile_concurrency_is_respected(mid_org: Organisation) -> None:
    with sandbox(mid_org, latency_ms=20) as (server, state):
        connector = connector_for(server, mid_org, page_size="100", max_concurrency="3")
        try:
            pages = await all_pages(connector)
        finally:
            await connector.aclose()
        assert state.max_in_flight == 3
    assert len(pages) == 25


async def test_failing_page_raises_page_error(mid_org: Organisation) -> None:
    with sandbox(mid_org, parse_faults("fail_page=3")) as (server, _state):
        connector = connector_for(server, mid_org, page_size="500")
        seen: list[int] = []
        try:
            with pytest.raises(PageError) as caught:
                async with contextlib.aclosing(connector.accounts()) as stream:
                    async for page in stream:
                        seen.append(len(page))
        finally:
            await connector.aclose()
    assert caught.value.page == 3
    assert "500" in caught.value.reason
    assert "6 attempts" in caught.value.reason
    assert seen == [500, 500]  # pages 1 and 2 came first, in order
    assert mid_org.api_key not in str(caught.value)


async def test_envelope_errors_fail_the_page(mid_org: Organisation) -> None:
    with sandbox(mid_org, parse_faults("envelope_error_page=2")) as (server, _state):
        connector = connector_for(server, mid_org, page_size="1000")
        try:
            with pytest.raises(PageError) as caught:
                await all_pages(connector)
        finally:
            await connector.aclose()
    assert caught.value.page == 2
    assert "Concurrency conflict" in caught.value.reason


async def test_transient_errors_are_retried(mid_org: Organisation) -> None:
    faults = parse_faults("error_rate=0.2,seed=7")
    with sandbox(mid_org, faults) as (server, state):
        connector = connector_for(server, mid_org, page_size="100")
        try:
            pages = await all_pages(connector)
        finally:
            await connector.aclose()
        injected = state.injected_errors
    records = [r for page in pages for r in page]
    assert [r.external_id for r in records] == [str(u.object_id) for u in mid_org.users]
    assert injected > 0
    assert connector.stats.retries == injected
    assert connector.stats.requests == 25 + injected


async def test_stopping_early_cancels_outstanding_fetches(mid_org: Organisation) -> None:
    with sandbox(mid_org, latency_ms=30) as (server, state):
        connector = connector_for(server, mid_org, page_size="50", max_concurrency="4")
        try:
            async with contextlib.aclosing(connector.accounts()) as stream:
                async for _page in stream:
                    break
            first_stream = connector.stats.requests
            async with contextlib.aclosing(connector.accounts()) as stream:
                count = 0
                async for _page in stream:
                    count += 1
                    if count == 2:
                        await asyncio.sleep(0.3)  # a slow consumer: prefetch stays bounded
                        requested = connector.stats.requests
                        break
        finally:
            await connector.aclose()
        await asyncio.sleep(0.1)
        assert state.in_flight == 0
    # each stream: page 1 + at most 2 x concurrency pages ahead of its consumer (the first
    # stream's cancelled prefetches may be counted late, so bound both streams together)
    assert first_stream >= 1
    assert requested <= 2 * (1 + 2 * 4 + 1)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


# --------------------------------------------------------------------------- activity


async def test_activity_since_returns_only_recent_users(mid_org: Organisation) -> None:
    since = NOW - timedelta(days=30)
    expected = {
        str(u.object_id): u.last_activity
        for u in mid_org.users
        if u.last_activity is not None and u.last_activity > since
    }
    with sandbox(mid_org) as (server, _state):
        connector = connector_for(server, mid_org, page_size="200")
        try:
            got: dict[str, datetime] = {}
            async with contextlib.aclosing(connector.activity(since)) as stream:
                async for page in stream:
                    for record in page:
                        assert record.external_id not in got
                        got[record.external_id] = record.at
        finally:
            await connector.aclose()
    assert expected  # the org has recent activity
    assert len(expected) < len(mid_org.users)
    assert got == expected


# --------------------------------------------------------------------------- current / reclaim


async def test_current_maps_the_user_and_reclaim_disables_it() -> None:
    """Rally specifics; the generic reclaim rules (idempotent, never the credential's own
    account, unknown accounts) are in the shared contract suite (test_contract.py)."""
    org = generate_org(40, seed=9, now=NOW)
    target = next(u for u in org.users[1:] if not u.disabled)
    with sandbox(org) as (server, state):
        connector = connector_for(server, org)
        try:
            ref = AccountRef(external_id=str(target.object_id), username=target.username)
            assert await connector.current(ref) == expected_record(target)
            first = await connector.reclaim(ref)
            assert first.outcome is ReclaimOutcome.RECLAIMED, first.message
            after = await connector.current(ref)
            assert after is not None and not after.active
            bad = await connector.reclaim(AccountRef(external_id="jdoe"))
            assert bad.outcome is ReclaimOutcome.FAILED and "not a Rally ObjectID" in bad.message
        finally:
            await connector.aclose()
        assert target.disabled  # the sandbox's own state agrees
        assert state.disable_calls == 1


async def test_reclaim_server_error_is_a_failure_with_a_clear_message() -> None:
    org = generate_org(10, seed=4, now=NOW)
    target = org.users[3]
    faults = FaultSpec(fail_reclaim=target.object_id)
    with sandbox(org, faults) as (server, _state):
        connector = connector_for(server, org, policy=HttpPolicy(max_retries=1, backoff_base=0))
        try:
            result = await connector.reclaim(AccountRef(external_id=str(target.object_id)))
        finally:
            await connector.aclose()
    assert result.outcome is ReclaimOutcome.FAILED
    assert "POST" in result.message and "2 attempts" in result.message and "500" in result.message
    assert org.api_key not in result.message


# --------------------------------------------------------------------------- defensive (mocked)


def mock_connector(handler: Callable[[httpx.Request], httpx.Response], **options: str) -> Any:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = ConnectorSettings(
        url="https://rally.test/slm/webservice/v2.0",
        secrets={"api_key": "_mock-key-0123456789"},
        options=options,
    )
    return RallyConnector(settings, client, policy=HttpPolicy(max_retries=0)), client


def envelope(results: list[dict[str, Any]], total: int) -> httpx.Response:
    body = {"QueryResult": {"Errors": [], "Warnings": [], "TotalResultCount": total,
                            "Results": results}}  # fmt: skip
    return httpx.Response(200, content=json.dumps(body).encode())


def user(oid: int, **extra: Any) -> dict[str, Any]:
    return {"ObjectID": oid, "UserName": f"u{oid}", "Disabled": False, **extra}


async def collect(connector: RallyConnector) -> list[list[AccountRecord]]:
    return await all_pages(connector)


async def test_malformed_record_names_page_and_field() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/slm/webservice/v2.0/user"
        assert request.headers["ZSESSIONID"] == "_mock-key-0123456789"
        start = int(request.url.params["start"])
        if start == 1:
            return envelope([user(1), user(2)], 4)
        return envelope([user(3, LastLoginDate="yesterday"), user(4)], 4)

    connector, client = mock_connector(handler, page_size="2")
    async with client:
        with pytest.raises(PageError) as caught:
            await collect(connector)
    assert caught.value.page == 2
    assert "LastLoginDate" in str(caught.value) and "user 3" in str(caught.value)

    def no_id(request: httpx.Request) -> httpx.Response:
        return envelope([{"UserName": "x", "Disabled": False}], 1)

    connector, client = mock_connector(no_id)
    async with client:
        with pytest.raises(ConnectorError, match=r"page 1.*ObjectID"):
            await collect(connector)


async def test_user_count_changing_mid_download_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        if start == 1:
            return envelope([user(1), user(2)], 4)
        return envelope([user(3), user(4)], 5)  # someone was added meanwhile

    connector, client = mock_connector(handler, page_size="2")
    async with client:
        with pytest.raises(ConnectorError, match="number of users changed during the download"):
            await collect(connector)


async def test_short_page_and_empty_snapshot_are_refused() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        if start == 1:
            return envelope([user(1), user(2)], 4)
        return envelope([user(4)], 4)

    connector, client = mock_connector(short, page_size="2")
    async with client:
        with pytest.raises(ConnectorError, match="held 1 users where 2 were expected"):
            await collect(connector)

    connector, client = mock_connector(lambda request: envelope([], 0))
    async with client:
        with pytest.raises(ConnectorError, match="no users at all"):
            await collect(connector)


async def test_validate_never_writes_and_accepts_single_object_shape() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if "query" not in request.url.params:
            body = {"User": user(7, SubscriptionPermission="Workspace Admin", EmailAddress="")}
            return httpx.Response(200, content=json.dumps(body).encode())
        return envelope([user(7)], 1)

    connector, client = mock_connector(handler)
    async with client:
        report = await connector.validate()
    assert report.ok, report.checks
    assert report.credential_owner == AccountRef(external_id="7", username="u7", email=None)
    assert report.facts["permission"] == "Workspace Admin"
    assert set(methods) == {"GET"}


async def test_activity_reads_again_when_the_set_grows() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    recent = "2026-02-01T10:00:00.000Z"
    old = "2025-06-01T10:00:00.000Z"
    passes = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["query"] == activity_query(since)
        assert request.url.params["fetch"] == "ObjectID,LastLoginDate,LastActiveDate"
        start = int(request.url.params["start"])
        if start == 1:
            passes["n"] += 1
            return envelope([user(1, LastLoginDate=recent), user(2, LastActiveDate=recent)], 4)
        # first pass: a user became active meanwhile; second pass: stable
        total = 5 if passes["n"] == 1 else 4
        return envelope([user(3, LastLoginDate=old, LastActiveDate=recent), user(4)], total)

    connector, client = mock_connector(handler, page_size="2")
    async with client:
        got = []
        async with contextlib.aclosing(connector.activity(since)) as stream:
            async for page in stream:
                got.extend(page)
    assert passes["n"] == 2
    assert [r.external_id for r in got] == ["1", "2", "3", "1", "2", "3"]
    assert got[2].at == datetime(2026, 2, 1, 10, tzinfo=UTC)

    def unstable(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        return envelope([user(start, LastLoginDate=recent)], 2 if start == 1 else 3)

    connector, client = mock_connector(unstable, page_size="1")
    async with client:
        with pytest.raises(ConnectorError, match="kept changing"):
            async with contextlib.aclosing(connector.activity(since)) as stream:
                async for _page in stream:
                    pass
