"""Benchmark: an Asana sync of N members against a per-minute rate limit (issue 6).

The sandbox answers with 429 + Retry-After beyond `--rate-limit` requests a minute (a sliding
window). The connector paces itself with the kit's RequestQuota at the same documented limit:
the run must see no 429 at all and use at least 90% of the allowed rate.

    python bench/sync_asana.py [--members 10000] [--rate-limit 150] [--events user_login_succeeded]

Prints a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sandbox.asana import create_asana_app
from shelfware.sandbox.asana_org import generate_asana_org
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.store import upgrade
from shelfware.sync.service import sync_profile

# the sandbox answers on 127.0.0.1: a loopback URL, allowed here as in `shelfware demo`
os.environ.setdefault("SHELFWARE_ALLOW_PRIVATE_URLS", "true")

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


async def run(members: int, rate_limit: int, events: str) -> None:
    org = generate_asana_org(members, 7, NOW)
    app = create_asana_app(org, FaultSpec(), 0, rate_limit=rate_limit)
    state = app.state.sandbox
    clock = FrozenClock(NOW)
    keys = KeyRing([Fernet.generate_key()])
    with tempfile.TemporaryDirectory() as home, serve_in_thread(app) as server:
        db = Database.from_url(f"sqlite:///{Path(home) / 'bench.db'}")
        upgrade(db.engine)
        with db.transaction() as session:
            profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind="asana",
                    name="asana",
                    url=server.url,
                    secrets={"api_key": org.api_key},
                    options={
                        "workspace": org.organisation.gid,
                        "rate_limit": str(rate_limit),
                        "activity_events": events,
                    },
                ),
            )
        report = await profiles.validate_profile(db, keys, clock, "asana")
        assert report.ok, report
        with db.transaction() as session:
            profiles.publish_profile(session, clock, profiles.get_profile(session, "asana"))
        state.throttled = 0
        started = time.perf_counter()
        summary = await sync_profile(db, keys, clock, "asana")
        elapsed = time.perf_counter() - started
        db.dispose()
    # A sliding window of `rate_limit` a minute lets R requests finish no sooner than
    # floor((R - 1) / rate_limit) minutes: the time the limit forces. How close the run comes to
    # it is the share of the allowed rate it used.
    forced = (summary.requests - 1) // rate_limit * 60.0
    used = f"{forced / elapsed:.0%}" if forced else "n/a (below one window)"
    print(
        "| date | members | limit/min | requests | wall | forced by the limit | 429s | retries "
        "| share of the allowed rate |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {datetime.now(UTC):%Y-%m-%d} | {members:,} | {rate_limit} | {summary.requests} | "
        f"{elapsed:.1f} s | {forced:.0f} s | {state.throttled} | {summary.retries} | {used} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rate-limit", type=int, default=150)
    parser.add_argument("--events", default="user_login_succeeded,task_created,comment_added")
    args = parser.parse_args()
    asyncio.run(run(args.members, args.rate_limit, args.events))


if __name__ == "__main__":
    main()
