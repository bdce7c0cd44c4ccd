"""Paginators and snapshot checks against the lab API: every style to the end, empty lists,
last pages exactly full, totals changing mid-download, cursors that repeat, next links to
another host, capped page sizes, the concurrency cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shelfware.connectors.base import PageError, SnapshotError
from shelfware.connectors.toolkit import (
    CountMatchesTotal,
    Cursor,
    ErrorEnvelope,
    FullPages,
    HttpStream,
    IncreasingKeys,
    LinkHeader,
    NextUrl,
    NotEmpty,
    Offset,
    PageNumber,
    PaginationError,
    RecordSelector,
    SinglePage,
    StableTotal,
    StartIndex,
    UniqueKeys,
    path,
    read_until_stable,
)
from shelfware.kit.http import HttpPolicy, VendorClient

from .conftest import Lab

ITEMS = RecordSelector.at("items")


def ids(pages: list[Any]) -> list[int]:
    return [item["id"] for page in pages for item in page.records]


async def collect(stream: HttpStream, checks: Any = ()) -> list[Any]:
    return [page async for page in stream.pages(checks)]


def index_stream(
    client: VendorClient, size: int, concurrency: int = 3, **params: Any
) -> HttpStream:
    return HttpStream(
        client,
        "/index",
        paginator=StartIndex(page_size=size, concurrency=concurrency),
        records=ITEMS,
        total=path("meta.total"),
        params=params,
        what="items",
    )


def strict() -> list[Any]:
    key = lambda item: item["id"]  # noqa: E731
    return [StableTotal(), FullPages(), IncreasingKeys(key), CountMatchesTotal(), NotEmpty()]


# --------------------------------------------------------------------------- start index


@pytest.mark.parametrize("count", [95, 100, 1, 0])
async def test_start_index_reads_everything_in_order(
    lab: Lab, client: VendorClient, count: int
) -> None:
    lab.state.fill(count)
    pages = await collect(index_stream(client, 10), [StableTotal(), FullPages()])
    assert ids(pages) == [1000 + i for i in range(count)]
    assert len(pages) == max(1, -(-count // 10))  # last page exactly full: no extra request
    assert lab.state.requests == len(pages)


async def test_start_index_fetches_in_parallel_within_the_cap(lab: Lab) -> None:
    lab.state.fill(200)
    http = lab.client(policy=HttpPolicy(max_concurrency=4))
    try:
        pages = await collect(index_stream(http, 10, concurrency=4, delay="0.05"))
    finally:
        await http.aclose()
    assert ids(pages) == [1000 + i for i in range(200)]
    assert 2 <= lab.state.max_in_flight <= 4


async def test_start_index_follows_a_server_that_caps_the_page_size(
    lab: Lab, client: VendorClient
) -> None:
    pages = await collect(index_stream(client, 50, cap="20"), strict())
    assert ids(pages) == [1000 + i for i in range(95)]
    assert [len(p.records) for p in pages] == [20, 20, 20, 20, 15]


async def test_total_changing_mid_download_is_refused(lab: Lab, client: VendorClient) -> None:
    with pytest.raises(SnapshotError, match="number of items changed during the download"):
        await collect(index_stream(client, 10, concurrency=1, grow_at="4"), strict())


async def test_a_short_page_is_refused(lab: Lab, client: VendorClient) -> None:
    with pytest.raises(SnapshotError, match="page 3 held 9 items where 10 were expected") as e:
        await collect(index_stream(client, 10, short="3"), strict())
    assert e.value.page == 3


async def test_an_empty_list_is_refused_when_it_must_not_be(lab: Lab, client: VendorClient) -> None:
    lab.state.fill(0)
    with pytest.raises(SnapshotError, match="no items at all"):
        await collect(index_stream(client, 10), strict())


async def test_duplicate_and_out_of_order_records_are_refused(
    lab: Lab, client: VendorClient
) -> None:
    lab.state.items[50] = dict(lab.state.items[10])  # a record seen twice
    with pytest.raises(SnapshotError, match="repeats 1010"):
        await collect(index_stream(client, 10), [UniqueKeys(lambda item: item["id"])])
    with pytest.raises(SnapshotError, match="1010 follows 1049"):
        await collect(index_stream(client, 10), [IncreasingKeys(lambda item: item["id"])])


async def test_read_until_stable_reads_again_while_the_list_grows(
    lab: Lab, client: VendorClient
) -> None:
    stream = index_stream(client, 10, concurrency=1, grow_at="3")
    batches = [b async for b in read_until_stable(stream.pages, max_passes=3)]
    seen = {item["id"] for batch in batches for item in batch}
    assert 1 in seen and {1000 + i for i in range(95)} <= seen
    assert lab.state.requests == 10 + 10  # one unstable pass, then a stable one (96 items)


# --------------------------------------------------------------------------- sequential


@pytest.mark.parametrize("count", [95, 100, 0])
async def test_page_number_and_offset_stop_at_the_end(
    lab: Lab, client: VendorClient, count: int
) -> None:
    lab.state.fill(count)
    numbered = HttpStream(
        client,
        "/numbered",
        paginator=PageNumber(size_param="per_page", page_size=10),
        records=ITEMS,
    )
    offsets = HttpStream(client, "/offset", paginator=Offset(page_size=10), records=ITEMS)
    for stream in (numbered, offsets):
        pages = await collect(stream)
        assert ids(pages) == [1000 + i for i in range(count)]
    # exactly-full last page: one more (empty) request confirms the end; short: none
    expected = count // 10 + 1 if count % 10 == 0 else -(-count // 10)
    assert len(pages) == expected


async def test_cursor_to_the_end_and_stream_ending_with_an_empty_page(
    lab: Lab, client: VendorClient
) -> None:
    cursor = Cursor(path("next_page.offset"), "cursor", initial={"limit": 10})
    plain = HttpStream(client, "/cursor", paginator=cursor, records=RecordSelector.at("data"))
    assert ids(await collect(plain)) == [1000 + i for i in range(95)]
    # a stream whose cursor never ends: stop on the empty page instead of looping
    endless = HttpStream(
        client,
        "/cursor",
        params={"stream": "1"},
        paginator=Cursor(path("next_page.offset"), "cursor", initial={"limit": 10}),
        records=RecordSelector.at("data"),
    )
    pages = await collect(endless)
    assert ids(pages) == [1000 + i for i in range(95)] and pages[-1].records == []


async def test_a_repeating_cursor_is_refused(lab: Lab, client: VendorClient) -> None:
    stream = HttpStream(
        client,
        "/cursor",
        params={"loop": "1"},
        paginator=Cursor(path("next_page.offset"), "cursor"),
        records=RecordSelector.at("data"),
    )
    with pytest.raises(PaginationError, match="repeated an earlier value"):
        await collect(stream)


async def test_cursor_in_a_json_body_graphql_style(lab: Lab, client: VendorClient) -> None:
    stream = HttpStream(
        client,
        "/graphql",
        method="POST",
        body={"query": "query($first: Int, $after: String) { ... }", "variables": {"first": 10}},
        paginator=Cursor(
            path("data.items.pageInfo.endCursor"),
            "variables.after",
            inject="json",
            has_more_path=path("data.items.pageInfo.hasNextPage"),
        ),
        records=RecordSelector.at("data.items.nodes"),
        envelope=ErrorEnvelope.at("errors"),
    )
    assert ids(await collect(stream)) == [1000 + i for i in range(95)]
    failing = HttpStream(
        client,
        "/graphql-error",
        method="POST",
        body={"query": "{ nope }"},
        records=RecordSelector.at("data.items.nodes"),
        envelope=ErrorEnvelope.at("errors"),
    )
    with pytest.raises(PageError, match="Field 'nope' doesn't exist"):
        await collect(failing)


@pytest.mark.parametrize("style", ["next_url", "link_header"])
async def test_next_links_to_the_end(lab: Lab, client: VendorClient, style: str) -> None:
    stream = make_link_stream(client, style)
    assert ids(await collect(stream)) == [1000 + i for i in range(95)]


@pytest.mark.parametrize("style", ["next_url", "link_header"])
async def test_a_next_link_to_another_host_is_refused(
    lab: Lab, client: VendorClient, style: str
) -> None:
    stream = make_link_stream(client, style, host="evil.example.com")
    with pytest.raises(PaginationError, match=r"another host .*evil\.example\.com"):
        await collect(stream)
    assert client.stats.requests == 1  # page 1 only: the link elsewhere was never followed


@pytest.mark.parametrize("style", ["next_url", "link_header"])
async def test_a_next_link_that_repeats_is_refused(
    lab: Lab, client: VendorClient, style: str
) -> None:
    with pytest.raises(PaginationError, match="repeats an earlier page"):
        await collect(make_link_stream(client, style, repeat="1"))


def make_link_stream(client: VendorClient, style: str, **params: Any) -> HttpStream:
    if style == "next_url":
        return HttpStream(
            client,
            "/next-url",
            params={"limit": 10, **params},
            paginator=NextUrl(path("links.next")),
            records=ITEMS,
        )
    return HttpStream(
        client,
        "/link",
        params={"limit": 10, **params},
        paginator=LinkHeader(),
        records=RecordSelector.at("$"),
    )


async def test_single_page_and_selection_errors(lab: Lab, client: VendorClient) -> None:
    pages = await collect(HttpStream(client, "/numbered", paginator=SinglePage(), records=ITEMS))
    assert len(pages) == 1 and len(pages[0].records) == 10
    wrong = HttpStream(client, "/numbered", records=RecordSelector.at("results"))
    with pytest.raises(PageError, match="page 1 failed: the response has no results"):
        await collect(wrong)
    not_a_list = HttpStream(client, "/echo", records=RecordSelector.at("headers"))
    with pytest.raises(PageError, match="headers in the response is dict, not a list"):
        await collect(not_a_list)


async def test_sequential_paging_prefetches_the_next_page(lab: Lab, client: VendorClient) -> None:
    stream = HttpStream(client, "/offset", paginator=Offset(page_size=10), records=ITEMS)
    pages = stream.pages()
    first = await anext(pages)
    assert first.number == 1
    # while the consumer holds page 1, page 2 is already on its way
    for _ in range(50):
        if client.stats.requests >= 2:
            break
        await asyncio.sleep(0.01)
    assert client.stats.requests == 2
    await pages.aclose()
