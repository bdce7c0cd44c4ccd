"""The official Microsoft Graph SDK (`msgraph-sdk`) runs against the Microsoft 365 sandbox,
unchanged but for where it sends requests and where its token comes from.

How it is pointed at the sandbox: the SDK's own `GraphRequestAdapter` is built with a kiota
`BaseBearerTokenAuthenticationProvider` and its `base_url` set to the sandbox's `/v1.0`, then
handed to `GraphServiceClient(request_adapter=...)`. The token provider does the client
credentials grant against the sandbox's token endpoint with plain httpx: the SDK's usual
`azure-identity` credential (MSAL) insists on an https authority and instance discovery on the
internet, which a loopback http sandbox cannot offer. Everything else (request building,
`$select`, paging with `@odata.nextLink`, JSON parsing into the SDK's models, its error type) is
the SDK's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest

pytest.importorskip("msgraph")

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.microsoft365 import (
    GRAPH_SCOPE,
    M365Tenant,
    create_m365_app,
    generate_tenant,
)
from shelfware.sandbox.server import serve_in_thread

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class SandboxTokens(AccessTokenProvider):
    """Client credentials against the sandbox's token endpoint (what MSAL would do)."""

    def __init__(self, authority: str, tenant: M365Tenant) -> None:
        self.url = f"{authority}/{tenant.tenant_id}/oauth2/v2.0/token"
        self.tenant = tenant
        self.host = urlsplit(authority).hostname or ""

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                self.url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.tenant.client_id,
                    "client_secret": self.tenant.client_secret,
                    "scope": GRAPH_SCOPE,
                },
            )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([self.host])


@pytest.fixture
def graph() -> Iterator[tuple[GraphServiceClient, M365Tenant, Any]]:
    tenant = generate_tenant(260, 4, NOW)
    app = create_m365_app(tenant, FaultSpec())
    with serve_in_thread(app) as server:
        adapter = GraphRequestAdapter(
            BaseBearerTokenAuthenticationProvider(SandboxTokens(server.url, tenant))
        )
        adapter.base_url = f"{server.url}/v1.0"
        yield GraphServiceClient(request_adapter=adapter), tenant, app.state.sandbox


async def test_users_with_sign_in_activity_page_through_next_links(graph: Any) -> None:
    client, tenant, _ = graph
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", "assignedLicenses", "signInActivity"], top=999
    )
    page = await client.users.get(RequestConfiguration(query_parameters=query))
    users = []
    pages = 0
    while page is not None:
        pages += 1
        users.extend(page.value or [])
        if not page.odata_next_link:
            break
        page = await client.users.with_url(page.odata_next_link).get()
    assert pages == 3  # 120 a page when signInActivity is selected, as Graph documents
    assert [u.id for u in users] == [u.id for u in tenant.users]
    by_id = {u.id: u for u in tenant.users}
    for user in users:
        known = by_id[user.id]
        assert {str(lic.sku_id) for lic in user.assigned_licenses} == set(known.licenses)
        assert user.sign_in_activity is not None
        assert user.sign_in_activity.last_sign_in_date_time == known.last_interactive
        assert user.display_name is None  # not selected: not sent


async def test_subscribed_skus_and_assign_license(graph: Any) -> None:
    client, tenant, state = graph
    skus = (await client.subscribed_skus.get()).value
    assert {(str(s.sku_id), s.sku_part_number, s.prepaid_units.enabled) for s in skus} == {
        (s.sku_id, s.part_number, s.prepaid) for s in tenant.skus
    }
    direct = next(u for u in tenant.users[1:] if any(g is None for g in u.licenses.values()))
    sku = next(s for s, g in direct.licenses.items() if g is None)
    body = AssignLicensePostRequestBody(add_licenses=[], remove_licenses=[UUID(sku)])
    user = await client.users.by_user_id(direct.id).assign_license.post(body)
    assert user is not None and user.id == direct.id
    assert sku not in direct.licenses and (direct.id, sku) in state.removed
    inherited = next(u for u in tenant.users if any(g for g in u.licenses.values()))
    group_sku = next(s for s, g in inherited.licenses.items() if g)
    body = AssignLicensePostRequestBody(add_licenses=[], remove_licenses=[UUID(group_sku)])
    with pytest.raises(ODataError) as refused:
        await client.users.by_user_id(inherited.id).assign_license.post(body)
    assert refused.value.response_status_code == 400
    assert "inherited from a group" in (refused.value.error.message or "")
    assert group_sku in inherited.licenses
