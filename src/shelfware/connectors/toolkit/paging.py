"""Paginators: which requests fetch every page of a list, and when the list ends.

A paginator drives a `fetch(PageRequest) -> Page` function (an `HttpStream` supplies it) and
yields the pages in order. The catalogue, named as in the custom profile spec:

- `SinglePage`: one request.
- `PageNumber`: `page=1,2,...` (+ optional size parameter), sequential.
- `Offset`: `offset=0,n,2n,...` + `limit=n`, sequential.
- `StartIndex`: 1-based `start` + `pagesize` with a reported total (Rally, SCIM); pages are
  independent, so after the first they are fetched in parallel, up to `concurrency` at once, and
  yielded in order. A server that caps the page size below the one asked for is followed.
- `Cursor`: an opaque token from the body (Asana's `next_page.offset`, GraphQL's `endCursor`),
  sent back as a query parameter or inside the JSON body.
- `NextUrl`: the next page's URL from the body.
- `LinkHeader`: the next page's URL from an RFC 8288 `Link: <...>; rel="next"` header.

Sequential paginators fetch the next page while the consumer handles the current one. Every
paginator refuses what would otherwise loop or leak: a cursor or URL that repeats, a next URL
on another host than the one the list started on, more than `max_pages` pages.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from shelfware.connectors.base import ConnectorError
from shelfware.connectors.toolkit.selectors import MISSING, JsonPath

Location = Literal["query", "json"]
DEFAULT_MAX_PAGES = 1_000_000


class PaginationError(ConnectorError):
    """The API's paging cannot be followed safely (it loops, or leads elsewhere)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What to send for one page: values for the query or the JSON body, or a whole URL."""

    number: int  # 1-based
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)  # dotted path in the JSON body -> value
    url: str | None = None  # an absolute URL from the API: sent as is, without the stream's query


@dataclass(slots=True)
class Page:
    """One fetched page."""

    number: int
    request: PageRequest
    url: str  # the URL that was fetched
    records: list[Any]
    total: int | None  # the total the API reported, if any
    body: Any
    headers: httpx.Headers
    expected: int | None = None  # records the paginator expects on this page, when it knows


Fetch = Callable[[PageRequest], Coroutine[Any, Any, Page]]


class Paginator(Protocol):
    def first(self) -> PageRequest:
        """The request for page 1."""
        ...

    def pages(self, fetch: Fetch) -> AsyncIterator[Page]: ...


def page_request(number: int, location: Location, values: Mapping[str, Any]) -> PageRequest:
    """A page request carrying `values` in the query string or in the JSON body."""
    if location == "query":
        return PageRequest(number, params=values)
    return PageRequest(number, body=values)


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def base_of(url: str) -> str:
    """`scheme://host[:port]` of a URL (where paths such as OAuth endpoints are placed)."""
    return "{}://{}".format(*origin(url))


# --------------------------------------------------------------------------- one request


@dataclass(frozen=True, slots=True)
class SinglePage:
    def first(self) -> PageRequest:
        return PageRequest(1)

    async def pages(self, fetch: Fetch) -> AsyncIterator[Page]:
        yield await fetch(self.first())


# --------------------------------------------------------------------------- sequential


class _Sequential:
    """Fetch page 1, then ask `follow` for the next request; prefetch it while yielding."""

    max_pages: int = DEFAULT_MAX_PAGES

    def first(self) -> PageRequest:
        raise NotImplementedError

    def follow(self, page: Page, seen: int, visited: set[str]) -> PageRequest | None:
        """The request for the page after `page`, or None at the end. `seen`: records so far;
        `visited`: cursors or URLs this download already used (to refuse loops)."""
        raise NotImplementedError

    async def pages(self, fetch: Fetch) -> AsyncIterator[Page]:
        pending: asyncio.Future[Page] | None = asyncio.ensure_future(fetch(self.first()))
        seen = 0
        visited: set[str] = set()
        try:
            while pending is not None:
                page = await pending
                pending = None
                seen += len(page.records)
                following = self.follow(page, seen, visited)
                if following is not None:
                    if following.number > self.max_pages:
                        raise PaginationError(
                            f"more than {self.max_pages} pages; the API's paging does not end"
                        )
                    pending = asyncio.ensure_future(fetch(following))
                yield page
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)


def _short(page: Page, size: int | None, seen: int) -> bool:
    """The list ended: an empty page, a page shorter than the page size, or the total reached."""
    if not page.records:
        return True
    if size is not None and len(page.records) < size:
        return True
    return page.total is not None and seen >= page.total


@dataclass
class PageNumber(_Sequential):
    page_param: str = "page"
    size_param: str | None = None
    page_size: int | None = None
    first_page: int = 1
    inject: Location = "query"

    def _request(self, number: int) -> PageRequest:
        values: dict[str, Any] = {self.page_param: self.first_page + number - 1}
        if self.size_param and self.page_size:
            values[self.size_param] = self.page_size
        return page_request(number, self.inject, values)

    def first(self) -> PageRequest:
        return self._request(1)

    def follow(self, page: Page, seen: int, visited: set[str]) -> PageRequest | None:
        if _short(page, self.page_size, seen):
            return None
        return self._request(page.number + 1)


@dataclass
class Offset(_Sequential):
    page_size: int = 100
    offset_param: str = "offset"
    limit_param: str = "limit"
    first_offset: int = 0
    inject: Location = "query"

    def _request(self, number: int, offset: int) -> PageRequest:
        values = {self.offset_param: offset, self.limit_param: self.page_size}
        return page_request(number, self.inject, values)

    def first(self) -> PageRequest:
        return self._request(1, self.first_offset)

    def follow(self, page: Page, seen: int, visited: set[str]) -> PageRequest | None:
        if _short(page, self.page_size, seen):
            return None
        return self._request(page.number + 1, self.first_offset + seen)


@dataclass
class Cursor(_Sequential):
    """An opaque token from the body, sent back as `param` (query) or at a body path."""

    cursor_path: JsonPath
    param: str
    inject: Location = "query"
    has_more_path: JsonPath | None = None  # e.g. GraphQL pageInfo.hasNextPage
    stop_on_empty: bool = True  # streams (audit logs) end with an empty page
    initial: Mapping[str, Any] = field(default_factory=dict)  # values for the first request

    def first(self) -> PageRequest:
        return page_request(1, self.inject, dict(self.initial))

    def follow(self, page: Page, seen: int, visited: set[str]) -> PageRequest | None:
        if self.stop_on_empty and not page.records:
            return None
        if self.has_more_path is not None and self.has_more_path.find(page.body) is not True:
            return None
        token = self.cursor_path.find(page.body)
        if token is MISSING or token is None or token == "":
            return None
        if isinstance(token, dict | list):
            raise PaginationError(f"page {page.number}: {self.cursor_path} is not a cursor value")
        key = str(token)
        if key in visited:
            raise PaginationError(
                f"page {page.number}: the cursor {self.cursor_path} repeated an earlier value; "
                "the API's paging loops"
            )
        visited.add(key)
        return page_request(page.number + 1, self.inject, {self.param: token})


class _UrlFollower(_Sequential):
    """Shared by NextUrl and LinkHeader: follow absolute URLs, on the same host only."""

    def first(self) -> PageRequest:
        return PageRequest(1)

    def next_url(self, page: Page) -> str | None:
        raise NotImplementedError

    def follow(self, page: Page, seen: int, visited: set[str]) -> PageRequest | None:
        raw = self.next_url(page)
        if not raw:
            return None
        url = urljoin(page.url, raw)
        if origin(url) != origin(page.url):
            raise PaginationError(
                f"page {page.number}: the next page is on another host ({origin(url)[1]!r}, "
                f"not {origin(page.url)[1]!r}); refusing to follow it"
            )
        if url in visited or url == page.url:
            raise PaginationError(
                f"page {page.number}: the next-page URL repeats an earlier page; the API's "
                "paging loops"
            )
        visited.add(page.url)
        visited.add(url)
        return PageRequest(page.number + 1, url=url)


class NextUrl(_UrlFollower):
    def __init__(self, next_path: JsonPath, *, stop_on_empty: bool = False) -> None:
        self.next_path = next_path
        self.stop_on_empty = stop_on_empty

    def next_url(self, page: Page) -> str | None:
        if self.stop_on_empty and not page.records:
            return None
        found = self.next_path.find(page.body)
        if found is MISSING or found is None or found == "":
            return None
        if not isinstance(found, str):
            raise PaginationError(f"page {page.number}: {self.next_path} is not a URL")
        return found


class LinkHeader(_UrlFollower):
    """RFC 8288 `Link` header (Okta, GitHub): follows `rel` (default "next")."""

    def __init__(self, rel: str = "next", *, stop_on_empty: bool = True) -> None:
        self.rel = rel
        self.stop_on_empty = stop_on_empty

    def next_url(self, page: Page) -> str | None:
        if self.stop_on_empty and not page.records:
            return None
        header = page.headers.get("link")
        if not header:
            return None
        for link in httpx.Response(200, headers={"link": header}).links.values():
            if self.rel in str(link.get("rel", "")).split():
                return link.get("url") or None
        return None


# --------------------------------------------------------------------------- parallel


@dataclass
class StartIndex:
    """1-based index paging with a reported total; pages after the first run in parallel."""

    page_size: int
    concurrency: int = 1
    start_param: str = "start"
    size_param: str = "pagesize"
    first_index: int = 1

    def request(self, number: int, size: int) -> PageRequest:
        start = self.first_index + (number - 1) * size
        return PageRequest(number, params={self.start_param: start, self.size_param: size})

    def first(self) -> PageRequest:
        return self.request(1, self.page_size)

    async def pages(self, fetch: Fetch) -> AsyncIterator[Page]:
        first = await fetch(self.first())
        if first.total is None:
            raise PaginationError("page 1 reported no total; index paging needs one")
        total = first.total
        size = self.page_size
        if 0 < len(first.records) < min(size, total):
            size = len(first.records)  # the server caps the page size: follow it
        page_count = max(1, math.ceil(total / size))

        def expected(number: int) -> int:
            return size if number < page_count else total - size * (page_count - 1)

        first.expected = expected(1) if total else 0
        ahead = 2 * max(1, self.concurrency)
        tasks: dict[int, asyncio.Task[Page]] = {}
        scheduled = 1

        def schedule_through(last: int) -> None:
            nonlocal scheduled
            while scheduled < min(page_count, last):
                scheduled += 1
                tasks[scheduled] = asyncio.create_task(fetch(self.request(scheduled, size)))

        try:
            schedule_through(ahead)  # on their way while the consumer handles page 1
            yield first
            for number in range(2, page_count + 1):
                schedule_through(number + ahead - 1)
                page = await tasks.pop(number)
                page.expected = expected(number)
                yield page
        finally:
            for task in tasks.values():
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks.values(), return_exceptions=True)
