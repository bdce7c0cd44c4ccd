"""The official Google API client (`google-api-python-client`, with `google-auth`) runs against
the Google Workspace sandbox, unchanged but for where it sends requests: the service account key
file's `token_uri` names the sandbox's token endpoint, and `client_options={"api_endpoint": ...}`
the sandbox as the APIs' root (the discovery documents are the ones the library ships,
`static_discovery=True`). The library signs its own JWT assertion (google-auth), pages with
`list_next`, and raises its `HttpError` for Google's error bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("googleapiclient")

from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.google import (
    LICENSING_SCOPE,
    USERS_READ_SCOPE,
    GoogleDomain,
    create_google_app,
    generate_domain,
    serve_key_file,
)
from shelfware.sandbox.server import serve_in_thread

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def google() -> Iterator[tuple[GoogleDomain, Any, str]]:
    domain = generate_domain(230, 8, NOW)
    app = create_google_app(domain, FaultSpec())
    with serve_in_thread(app) as server:
        yield domain, app.state.sandbox, server.url


def client(domain: GoogleDomain, url: str, api: str, version: str, scope: str) -> Any:
    credentials = service_account.Credentials.from_service_account_info(
        serve_key_file(domain, url), scopes=[scope], subject=domain.admin
    )
    return build(
        api,
        version,
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": url},
        cache_discovery=False,
    )


def test_licensing_pages_and_deletes_like_google(google: Any) -> None:
    domain, state, url = google
    licensing = client(domain, url, "licensing", "v1", LICENSING_SCOPE)
    assignments = licensing.licenseAssignments()
    request = assignments.listForProduct(
        productId="Google-Apps", customerId=domain.customer_id, maxResults=100
    )
    items: list[dict[str, Any]] = []
    pages = 0
    while request is not None:
        answer = request.execute()
        pages += 1
        items.extend(answer.get("items", []))
        request = assignments.listForProduct_next(request, answer)
    held = {(u.email, sku) for u in domain.users for sku in u.licenses}
    assert pages == -(-len(held) // 100)
    assert {(i["userId"], i["skuId"]) for i in items} == held
    email, sku = sorted(held)[1]
    assignments.delete(productId="Google-Apps", skuId=sku, userId=email).execute()
    assert (email, sku) in state.removed
    with pytest.raises(HttpError) as missing:
        assignments.get(productId="Google-Apps", skuId=sku, userId=email).execute()
    assert missing.value.resp.status == 404


def test_directory_users_with_last_login(google: Any) -> None:
    domain, _, url = google
    directory = client(domain, url, "admin", "directory_v1", USERS_READ_SCOPE)
    users = directory.users()
    request = users.list(customer="my_customer", maxResults=100, projection="basic")
    found: list[dict[str, Any]] = []
    while request is not None:
        answer = request.execute()
        found.extend(answer.get("users", []))
        request = users.list_next(request, answer)
    assert [u["primaryEmail"] for u in found] == [u.email for u in domain.users]
    by_email = {u.email: u for u in domain.users}
    for user in found:
        known = by_email[user["primaryEmail"]]
        assert user["suspended"] == known.suspended and user["isAdmin"] == known.is_admin
        if known.last_login is None:
            assert user["lastLoginTime"] == "1970-01-01T00:00:00.000Z"
    # a scope the delegation does not grant: the token endpoint refuses
    domain.delegated_scopes.discard(USERS_READ_SCOPE)
    refused = client(domain, url, "admin", "directory_v1", USERS_READ_SCOPE)
    with pytest.raises(Exception, match="unauthorized_client"):
        refused.users().list(customer="my_customer").execute()
