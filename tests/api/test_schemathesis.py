"""schemathesis against the API's own OpenAPI document: no request it generates gets a server
error or an answer the document does not describe (status, content type, body schema).

Bounded: a few examples per operation (CI draws the same ones every run, see
tests/conftest.py). Validate and sync call the app at the profile's URL, so they are left to
the end-to-end tests.

Cursors are opaque strings to the document, so plain generation only ever sends garbage that
fails to decode. ``cursors()`` crafts the ones that decode: the listing's own shape with an id
beyond a BIGINT or negative, a sort value with NUL or an instant out of range, wrong JSON
shapes; the cursor parameters of the document are given that format for this run. Run it on
PostgreSQL too (SHELFWARE_TEST_DATABASE_URL): NUL only breaks there."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
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


CURSOR_FORMAT = "shelfware-cursor"
SORTS = ("id", "username", "last_activity_at")
ODD_DATES = (
    "99999-01-01",
    "0000-00-00",
    "2026-13-45",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "1000-01-01T00:00:00",
)


def _encoded(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), allow_nan=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursors() -> st.SearchStrategy[str]:
    """Cursors a client could forge: mostly the listing's own shape, with hostile parts."""
    ids = st.one_of(
        st.integers(min_value=2**63 - 2, max_value=10**40),
        st.integers(min_value=-(10**40), max_value=0),
        st.integers(min_value=1, max_value=100),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
    )
    values = st.one_of(
        st.none(),
        st.text(max_size=20),  # NUL among them
        st.sampled_from(ODD_DATES),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.integers(),
    )
    shaped = st.tuples(
        st.sampled_from(SORTS) | st.text(max_size=5),
        st.booleans() | st.integers(0, 1),
        values,
        ids,
    ).map(lambda t: _encoded(list(t)))
    plain = st.tuples(st.just("id"), st.just(False), st.none(), ids).map(
        lambda t: _encoded(list(t))
    )
    other = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=8,
    ).map(_encoded)
    garbage = st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())
    return st.one_of(plain, shaped, other, garbage, st.text(max_size=30)).filter(
        lambda c: len(c) <= 1000
    )


schemathesis.openapi.format(CURSOR_FORMAT, cursors())


def _with_cursor_format(document: dict[str, Any]) -> dict[str, Any]:
    """Every ``cursor`` query parameter of the document, as a string of ``CURSOR_FORMAT``."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "cursor" and parameter.get("in") == "query":
                    parameter["schema"] = {
                        "type": "string",
                        "format": CURSOR_FORMAT,
                        "maxLength": 1000,
                    }
    return document


def _document() -> dict[str, Any]:
    """The API's OpenAPI document (built without a database: documents never touch one)."""
    offline = Workspace(
        store=Store(db=Database.from_url("sqlite://"), keys=KeyRing([Fernet.generate_key()]))
    )
    document = create_api(offline).openapi()
    offline.store.db.dispose()
    return _with_cursor_format(document)


schema = schemathesis.openapi.from_dict(_document()).exclude(
    path_regex=r"/profiles/\{name\}/(validate|sync)$"
)
paged = schemathesis.openapi.from_dict(_document()).include(path_regex=r"^/(subscriptions|people)$")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_document(case: schemathesis.Case, api: Api, served: str) -> None:
    case.call_and_validate(base_url=served, headers=api.auth(Role.ADMIN), checks=CHECKS)


@paged.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_crafted_cursors_never_break_a_listing(
    case: schemathesis.Case, api: Api, served: str
) -> None:
    case.call_and_validate(base_url=served, headers=api.auth(Role.ADMIN), checks=CHECKS)
