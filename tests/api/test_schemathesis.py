"""schemathesis against the API's own OpenAPI document: no request it generates gets a server
error or an answer the document does not describe (status, content type, body schema).

Bounded: a few examples per operation (CI draws the same ones every run, see
tests/conftest.py). Validate and sync call the app at the profile's URL, so they are left to
the end-to-end tests."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shelfware.accounts.roles import Role
from shelfware.api.app import create_api
from shelfware.appstate import Workspace
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.store import Store
from tests.api.conftest import Api

pytestmark = pytest.mark.store

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _document() -> dict[str, Any]:
    """The API's OpenAPI document (built without a database: documents never touch one)."""
    offline = Workspace(
        store=Store(db=Database.from_url("sqlite://"), keys=KeyRing([Fernet.generate_key()]))
    )
    document = create_api(offline).openapi()
    offline.store.db.dispose()
    return document


schema = schemathesis.openapi.from_dict(_document()).exclude(
    path_regex=r"/profiles/\{name\}/(validate|sync)$"
)


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_document(case: schemathesis.Case, api: Api, served: str) -> None:
    case.call_and_validate(base_url=served, headers=api.auth(Role.ADMIN), checks=CHECKS)
