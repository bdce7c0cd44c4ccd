"""`HttpStream`: one list endpoint of an API, composed from the kit's pieces.

A stream is the request (method, path, query, JSON body) plus a paginator, a record selector,
where the total is reported, an error envelope, and the snapshot checks a download must pass.
`pages()` yields checked pages in order; any failure names the page and the cause, with every
secret masked. `send` and `decode` are the same error handling for single calls (re-read one
account, reclaim one account).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from shelfware.connectors.base import (
    AuthenticationError,
    ConnectorError,
    PageAuthenticationError,
    PageError,
)
from shelfware.connectors.toolkit.auth import TokenEndpointError
from shelfware.connectors.toolkit.envelopes import ErrorEnvelope
from shelfware.connectors.toolkit.paging import Page, PageRequest, Paginator, SinglePage
from shelfware.connectors.toolkit.selectors import (
    JsonPath,
    RecordSelector,
    SelectionError,
    integer_at,
)
from shelfware.connectors.toolkit.snapshot import SnapshotCheck, checked
from shelfware.kit.http import HttpAuthenticationError, HttpError, VendorClient

EXCERPT_CHARS = 200


def path_segment(value: str) -> str:
    """`value` as one URL path segment: percent-encoded (no "/", "?", "#" survive) and never a
    dot segment ("." or ".."), so it cannot climb out of the path it is placed in."""
    encoded = quote(value, safe="")
    if encoded and set(encoded) <= {"."}:
        encoded = encoded.replace(".", "%2E")
    return encoded


def rejected(error: AuthenticationError) -> str:
    """A validation check's words for a refused credential: why, and what to do."""
    if isinstance(error, TokenEndpointError):
        return f"credential rejected: {error}"  # says "authorize again" where that is the fix
    return "credential rejected (401): check the API token and its owner's role"


def connector_error(error: HttpError) -> ConnectorError:
    """The contract's error for an HTTP failure (a 401 is an `AuthenticationError`)."""
    if isinstance(error, HttpAuthenticationError):
        return AuthenticationError(str(error))
    return ConnectorError(str(error))


async def send(client: VendorClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """`client.request` with HTTP failures turned into the contract's errors."""
    try:
        return await client.request(method, url, **kwargs)
    except HttpError as error:
        raise connector_error(error) from None


def decode(client: VendorClient, response: httpx.Response, what: str) -> Any:
    """The JSON body of `response`; a `ConnectorError` naming `what` if it is not JSON."""
    try:
        return response.json()
    except ValueError:
        excerpt = client.redactor.redact(" ".join(response.text[:EXCERPT_CHARS].split()))
        raise ConnectorError(f"{what}: the response is not JSON: {excerpt!r}") from None


def set_at(document: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `value` at a dotted path in a JSON document, creating objects on the way."""
    *parents, last = dotted.split(".")
    here = document
    for name in parents:
        child = here.get(name)
        if not isinstance(child, dict):
            child = here[name] = {}
        here = child
    here[last] = value


@dataclass
class HttpStream:
    """One list endpoint: request + paginator + record selector + envelope + total."""

    client: VendorClient
    path: str
    paginator: Paginator = field(default_factory=SinglePage)
    records: RecordSelector = field(default_factory=lambda: RecordSelector.at("$"))
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    total: JsonPath | None = None
    envelope: ErrorEnvelope | None = None
    what: str = "records"  # for messages

    async def fetch(self, request: PageRequest) -> Page:
        """One page; a `PageError` naming the page and the cause if it cannot be had."""
        number = request.number
        if request.url is not None:
            url, params = request.url, None
        else:
            url, params = self.path, {**self.params, **request.params}
        body = self._body(request)
        try:
            response = await self.client.request(
                self.method, url, params=params, json=body, idempotent=True
            )
        except HttpAuthenticationError as error:
            raise PageAuthenticationError(number, str(error)) from None
        except HttpError as error:
            raise PageError(number, str(error)) from None
        try:
            payload = decode(self.client, response, f"{self.method} {self.path}")
        except ConnectorError as error:
            raise PageError(number, str(error)) from None
        if self.envelope is not None:
            errors = self.envelope.errors(payload)
            if errors:
                message = self.client.redactor.redact("; ".join(errors))
                if self.envelope.rejects_credential(payload):
                    raise PageAuthenticationError(number, f"credential rejected: {message}")
                raise PageError(number, f"the API reported errors: {message}")
        try:
            records = self.records.select(payload)
            total = integer_at(payload, self.total) if self.total is not None else None
        except SelectionError as error:
            raise PageError(number, str(error)) from None
        self.client.stats.pages += 1
        return Page(
            number=number,
            request=request,
            url=str(response.request.url),
            records=records,
            total=total,
            body=payload,
            headers=response.headers,
        )

    async def first_page(self) -> Page:
        """Page 1 alone (validation probes, single-record reads)."""
        return await self.fetch(self.paginator.first())

    def pages(self, checks: Sequence[SnapshotCheck] = ()) -> AsyncIterator[Page]:
        """Every page in order, each passed through `checks` (fresh ones per download)."""
        return checked(self.paginator.pages(self.fetch), checks, self.what)

    def _body(self, request: PageRequest) -> Any:
        if self.body is None and not request.body:
            return None
        document: dict[str, Any] = copy.deepcopy(dict(self.body or {}))
        for dotted, value in request.body.items():
            set_at(document, dotted, value)
        return document
