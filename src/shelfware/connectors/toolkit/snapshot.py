"""Snapshot checks: a download is complete and consistent, or it fails. Never a silent partial.

Pages are separate requests, so a list that changes while it is read can come back with a
record missing (shifted across a page boundary) or twice. Each check watches the pages of one
download and raises `SnapshotError` (naming the page and what was wrong) at the first sign:

- `StableTotal`: every page reports the same total as the first.
- `FullPages`: each page holds as many records as the paginator expected.
- `UniqueKeys`: no record key twice; `IncreasingKeys`: keys strictly increasing (ordered lists).
- `CountMatchesTotal`: the records read add up to the reported total.
- `NotEmpty`: refuse an empty list (where the app always has at least one account).

`read_until_stable` is for lists that legitimately grow while read (recent activity): it reads
again until one pass sees a stable total, dropping records an ordered read already passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shelfware.connectors.base import PageError, SnapshotError
from shelfware.connectors.toolkit.paging import Page
from shelfware.connectors.toolkit.records import RecordError

KeyOf = Callable[[Any], Any]


@dataclass(slots=True)
class Download:
    """What the checks have seen of one download so far."""

    what: str = "records"  # what the list holds, for messages ("users")
    pages: int = 0
    records: int = 0
    total: int | None = None  # reported by the first page


class SnapshotCheck(Protocol):
    def page(self, page: Page, seen: Download) -> None:
        """Called for each page, in order, after `seen` counted it; raise to refuse."""
        ...

    def finish(self, seen: Download) -> None:
        """Called once the last page was read."""
        ...


class _Check:
    def page(self, page: Page, seen: Download) -> None:
        pass

    def finish(self, seen: Download) -> None:
        pass


class StableTotal(_Check):
    def page(self, page: Page, seen: Download) -> None:
        if page.total is not None and seen.total is not None and page.total != seen.total:
            raise SnapshotError(
                f"the number of {seen.what} changed during the download (page 1 reported "
                f"{seen.total}, page {page.number} reported {page.total}); retry the sync",
                page.number,
            )


class FullPages(_Check):
    def page(self, page: Page, seen: Download) -> None:
        if page.expected is not None and len(page.records) != page.expected:
            raise SnapshotError(
                f"page {page.number} held {len(page.records)} {seen.what} where {page.expected} "
                f"were expected ({seen.total} in all); retry the sync",
                page.number,
            )


@dataclass
class UniqueKeys(_Check):
    key: KeyOf
    _seen: set[Hashable] = field(default_factory=set, init=False, repr=False)

    def page(self, page: Page, seen: Download) -> None:
        for record in page.records:
            value = self.key(record)
            if value in self._seen:
                raise SnapshotError(
                    f"page {page.number} repeats {value!r} from an earlier page: the "
                    f"{seen.what} changed during the download; retry the sync",
                    page.number,
                )
            self._seen.add(value)


@dataclass
class IncreasingKeys(_Check):
    key: KeyOf
    _last: Any = field(default=None, init=False, repr=False)

    def page(self, page: Page, seen: Download) -> None:
        for record in page.records:
            value = self.key(record)
            if self._last is not None and value <= self._last:
                raise SnapshotError(
                    f"page {page.number}: record {value!r} follows {self._last!r}; the list is "
                    "not in a consistent order; retry the sync",
                    page.number,
                )
            self._last = value


class CountMatchesTotal(_Check):
    def finish(self, seen: Download) -> None:
        if seen.total is not None and seen.records != seen.total:
            raise SnapshotError(
                f"downloaded {seen.records} {seen.what} but the app reported {seen.total}; "
                "retry the sync"
            )


class NotEmpty(_Check):
    def finish(self, seen: Download) -> None:
        if seen.records == 0:
            raise SnapshotError(
                f"the app listed no {seen.what} at all; refusing an empty snapshot (it would "
                "mark every account as gone)"
            )


async def checked(
    pages: AsyncIterator[Page], checks: Sequence[SnapshotCheck], what: str = "records"
) -> AsyncIterator[Page]:
    """`pages`, each one passed through `checks` before it is yielded."""
    seen = Download(what)
    async for page in pages:
        seen.pages += 1
        seen.records += len(page.records)
        if seen.total is None and seen.pages == 1:
            seen.total = page.total
        try:
            for check in checks:
                check.page(page, seen)
        except RecordError as error:
            raise PageError(page.number, f"malformed record: {error}") from None
        yield page
    for check in checks:
        check.finish(seen)


async def read_until_stable(
    read: Callable[[], AsyncIterator[Page]],
    *,
    max_passes: int,
    key: KeyOf | None = None,
) -> AsyncIterator[list[Any]]:
    """Records of `read()` passes until one pass reports the same total on every page.

    Records of every pass are yielded (consumers reduce repeats). With `key` (an ordered
    list), a record whose key does not increase was shifted across a page boundary while we
    read, and is skipped as a repeat.
    """
    totals: list[int | None] = []
    for _ in range(max_passes):
        first_total: int | None = None
        stable = True
        last: Any = None
        async for page in read():
            if page.number == 1:
                first_total = page.total
            elif page.total != first_total:
                stable = False
            records = page.records
            if key is not None:
                kept = []
                for record in records:
                    try:
                        value = key(record)
                    except RecordError as error:
                        raise PageError(page.number, f"malformed record: {error}") from None
                    if last is not None and value <= last:
                        continue
                    last = value
                    kept.append(record)
                records = kept
            if records:
                yield records
        if stable:
            return
        totals.append(first_total)
    raise SnapshotError(
        f"the list kept changing during {max_passes} reads (first totals {totals}); retry the sync"
    )
