"""Google-shaped quotas as `--faults` keys of the Google sandbox (`google_qpm`,
`google_quota_rate`), over real HTTP: the sandbox answers 403 `userRateLimitExceeded` /
`rateLimitExceeded` as Google does (no Retry-After), the connector backs off exponentially
with jitter, paces itself to the per-user quota, and the download completes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shelfware.connectors.registry import build_connector
from shelfware.kit.http import HttpPolicy
from shelfware.sandbox.faults import FaultSpec, parse_faults
from shelfware.sandbox.google import create_google_app, generate_domain
from shelfware.sandbox.server import serve_in_thread

from ..conftest import NOW
from .test_google_workspace import Google, held, settings


def running(faults: FaultSpec, users: int = 1200) -> Iterator[Google]:
    domain = generate_domain(users, 31, NOW)
    app = create_google_app(domain, faults)
    with serve_in_thread(app) as server:
        yield Google(domain, app.state.sandbox, server.url)


def retry_gaps(g: Google) -> list[float]:
    """Seconds between each quota answer and the same request asked again."""
    seen = g.state.seen
    return [
        next(t for t, w, _ in seen[i + 1 :] if w == where) - at
        for i, (at, where, status) in enumerate(seen)
        if status
    ]


def test_the_keys_parse_and_are_checked() -> None:
    spec = parse_faults("google_qpm=2400,google_quota_rate=0.1")
    assert (spec.google_qpm, spec.google_quota_rate) == (2400, 0.1)
    with pytest.raises(ValueError, match="google_qpm"):
        parse_faults("google_qpm=-1")
    from shelfware.sandbox import SANDBOXES

    with pytest.raises(ValueError, match="not supported by the microsoft365 sandbox"):
        SANDBOXES["microsoft365"](3, 1, NOW, 0, spec)


async def test_rate_limit_exceeded_is_retried_with_exponential_backoff_and_jitter() -> None:
    for g in running(parse_faults("google_quota_rate=0.35,seed=4")):
        connector = build_connector(
            "google_workspace", settings(g), policy=HttpPolicy(backoff_cap=0.01)
        )
        try:
            records = [r async for page in connector.accounts() for r in page]
        finally:
            await connector.aclose()
        assert {r.external_id for r in records} == held(g.domain)
        quota = connector.quota  # type: ignore[attr-defined]
        assert g.state.throttled and set(g.state.throttled) == {403}
        assert quota.backoffs == len(g.state.throttled)
        gaps = retry_gaps(g)
        # each wait is at least the base (0.05 s), and the jitter makes them differ
        assert all(gap >= 0.05 for gap in gaps)
        assert len({round(gap, 3) for gap in gaps}) > 1


async def test_the_per_user_quota_answers_user_rate_limit_exceeded_and_is_waited_out() -> None:
    """A per-user quota smaller than the download: 403 userRateLimitExceeded once the minute's
    budget is spent; backing off until the window has room, every assignment is read."""
    for g in running(parse_faults("google_qpm=3")):
        g.state.qpm_window = 0.5  # Google's window is a minute: shortened for the test
        connector = build_connector("google_workspace", settings(g))
        try:
            records = [r async for page in connector.accounts() for r in page]
        finally:
            await connector.aclose()
        assert {r.external_id for r in records} == held(g.domain)
        assert g.state.throttled and set(g.state.throttled) == {403}
        assert connector.quota.backoffs == len(g.state.throttled)  # type: ignore[attr-defined]


def test_the_connector_paces_itself_to_the_per_user_quota() -> None:
    """The connector's pacer is the documented per-user quota (2,400 a minute), or the option's,
    and one budget for every connector impersonating the same admin (validation, then the
    sync, spend the same quota). The kit's RequestQuota itself is tested in tests/kit."""
    for g in running(FaultSpec(), users=3):
        first = build_connector("google_workspace", settings(g))
        second = build_connector("google_workspace", settings(g, queries_per_minute="600"))
        other = build_connector("google_workspace", settings(g, admin="someone@example.org"))
        quotas = [c.pacer() for c in (first, second, other)]  # type: ignore[attr-defined]
        assert [q.limit for q in quotas] == [2400, 600, 2400]
        assert quotas[0]._done is quotas[1]._done  # same admin: one budget
        assert quotas[0]._done is not quotas[2]._done
