"""Benchmark: Rally syncs against the sandbox, next to the floor measured in the same run.

For each latency and store it measures, each in its own process (the sandbox too, so its CPU
and memory are not counted against anything else):

- the raw fetch: httpx fetching and JSON-decoding the same pages with the same concurrency
  (12), no mapping, no database;
- the raw driver write of the same rows: sqlite3 ``executemany`` / psycopg ``COPY`` into a
  table shaped like ``subscription``, one transaction;
- a first sync into a fresh store, then an unchanged second sync: wall time, stage timings
  (from the run record) and the syncing process's peak RSS;
- a third sync against a second sandbox where 5% of the accounts changed (names, status,
  activity): only those are staged and written.

floor = max(raw fetch, raw write). Targets (issue 17): first sync <= 1.3x floor (SQLite) /
1.5x (PostgreSQL); unchanged second sync <= 1.15x raw fetch; the 5%-changed sync <= 1.3x raw
fetch; peak RSS < 250 MB (< 400 MB at 1,000,000 users). ``--churn`` adds the changing-org
case (many open candidates, then a sync applying many new, changed and gone accounts).

    python bench/sync_rally.py [--users 100000] [--latencies 50,200] [--pg-url URL]
                               [--churn 150000] [--million]

Prints Markdown tables (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vendor_common import (  # bench/ is on sys.path when run as a script
    Sandbox,
    free_port,
    peak_rss_mb,
    stages,
)
from vendor_common import child as run_child
from vendor_common import raw_write as raw_write_rows

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SEED = 1
PAGE = 2000
CONCURRENCY = 12  # Rally's cap on requests in flight, which the connector uses
# What the connector asks Rally for (connectors/rally.py), restated so the raw fetch asks
# for exactly the same pages.
FIELDS = (
    "ObjectID,UserName,EmailAddress,DisplayName,FirstName,LastName,Disabled,SubscriptionAdmin,"
    "SubscriptionPermission,CreationDate,LastLoginDate,LastActiveDate"
)
ALL_USERS = "((Disabled = true) OR (Disabled = false))"
HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------- child processes


def child(mode: str, *args: str) -> dict[str, Any]:
    """Run one measurement of this script in its own process."""
    return run_child(HERE, mode, *args)


def churned(org: Any, rng: random.Random) -> None:
    """Change the organisation the way a busy quarter does (ratios of the issue's case at
    150,000 users: 44% gone, 22% changed, 77% new)."""
    from shelfware.sandbox.org import generate_org

    users = org.users
    n = len(users)
    keep = [users[0]] + [u for u in users[1:] if rng.random() >= 0.44]
    for user in keep[1:]:
        roll = rng.random()
        if roll < 0.12:
            user.display_name = (user.display_name or user.username) + " Jr"
        elif roll < 0.20:
            user.last_login_date = NOW - timedelta(days=1)  # active again: cancels
        elif roll < 0.26:
            user.disabled = not user.disabled
    top = max(u.object_id for u in users)
    fresh = generate_org(max(1, round(n * 0.77)), SEED + 1, NOW).users
    for user in fresh:
        user.object_id += top
        user.username = "n." + user.username
        user.email = None if user.email is None else "n." + user.email
        user.subscription_admin = False
    org.users = sorted(keep + fresh, key=lambda u: u.object_id)


CHANGED_SHARE = 0.05  # the "5% of accounts changed" re-sync


def changed_share(org: Any, rng: random.Random, share: float = CHANGED_SHARE) -> None:
    """Change `share` of the accounts the way a quiet week does: names, status, activity."""
    for user in rng.sample(org.users, round(len(org.users) * share)):
        roll = rng.random()
        if roll < 0.5:
            user.display_name = (user.display_name or user.username) + " Jr"
        elif roll < 0.8:
            user.last_login_date = NOW - timedelta(days=1)
        else:
            user.disabled = not user.disabled


def run_sandbox(users: int, latency_ms: float, port: int, churn: str) -> None:
    from shelfware.sandbox import SANDBOXES
    from shelfware.sandbox.faults import parse_faults
    from shelfware.sandbox.server import serve_forever

    app, org = SANDBOXES["rally"](users, SEED, NOW, latency_ms, parse_faults(""))
    if churn == "1":
        churned(org, random.Random(99))
        app.state.sandbox.reload_users()
    elif churn == "changed":
        changed_share(org, random.Random(98))
        app.state.sandbox.reload_users()
    serve_forever(app, "127.0.0.1", port)


async def raw_fetch(base: str, api_key: str) -> dict[str, Any]:
    """Fetch and decode every page with 12 in flight: no mapping, no database."""
    import httpx

    url = base + "/v2.0/user"
    headers = {"ZSESSIONID": api_key}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    gate = asyncio.Semaphore(CONCURRENCY)

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=120) as client:

        async def page(start: int) -> tuple[int, int]:
            params = {
                "fetch": FIELDS,
                "query": ALL_USERS,
                "order": "ObjectID",
                "start": start,
                "pagesize": PAGE,
            }
            async with gate:
                response = await client.get(url, params=params)
            response.raise_for_status()
            body = json.loads(response.content)
            result = body["QueryResult"]
            return int(result["TotalResultCount"]), len(result["Results"])

        started = time.perf_counter()
        total, rows = await page(1)
        rest = await asyncio.gather(*(page(s) for s in range(1 + PAGE, total + 1, PAGE)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "pages": 1 + len(rest), "rows": rows + sum(r for _, r in rest)}


async def connector_alone(base: str, api_key: str) -> dict[str, Any]:
    """The connector's own download: fetch, decode and map every record; no database."""
    from shelfware.connectors.base import ConnectorSettings
    from shelfware.connectors.registry import build_connector

    settings = ConnectorSettings(url=base, secrets={"api_key": api_key})
    connector = build_connector("rally", settings)
    started = time.perf_counter()
    rows = 0
    try:
        async for page in connector.accounts():
            rows += len(page)
    finally:
        await connector.aclose()
    return {"seconds": time.perf_counter() - started, "rows": rows}


def same_rows(users: int, churn: bool) -> list[tuple[Any, ...]]:
    from shelfware.sandbox.org import generate_org

    org = generate_org(users, SEED, NOW)
    if churn:
        churned(org, random.Random(99))
    first_seen = NOW.replace(tzinfo=None)

    def naive(value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    return [
        (
            1,
            1,
            str(u.object_id),
            u.username,
            u.email,
            u.display_name or u.username,
            not u.disabled,
            bool(u.subscription_admin),
            "Unlimited",
            naive(u.creation_date),
            naive(u.last_activity),
            first_seen,
        )
        for u in org.users
    ]


def raw_write(users: int, database: str, churn: bool) -> dict[str, Any]:
    return raw_write_rows(same_rows(users, churn), database)


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


async def run_syncs(database: str, urls: list[str], api_key: str) -> dict[str, Any]:
    """Sync one profile once per URL (same profile, the URL switched between syncs)."""
    from cryptography.fernet import Fernet
    from sqlalchemy import select

    from shelfware.kit.clock import FrozenClock
    from shelfware.kit.crypto import KeyRing
    from shelfware.kit.db import Database
    from shelfware.models import IntegrationProfile, SyncRun
    from shelfware.profiles import service as profiles
    from shelfware.profiles.schemas import ProfileCreate
    from shelfware.store import upgrade
    from shelfware.sync.service import sync_profile

    if database.startswith("postgresql"):
        reset_postgres(database)
    else:  # a fresh file
        for suffix in ("", "-wal", "-shm"):
            Path(database.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    db = Database.from_url(database)
    upgrade(db.engine)
    keys = KeyRing([Fernet.generate_key()])
    clock = FrozenClock(NOW)
    create = ProfileCreate(kind="rally", name="bench", url=urls[0], secrets={"api_key": api_key})
    with db.transaction() as s:
        profiles.create_profile(s, keys, clock, create)
    await profiles.validate_profile(db, keys, clock, "bench")
    with db.transaction() as s:
        profiles.publish_profile(s, clock, profiles.get_profile(s, "bench"))
    syncs = []
    for url in urls:
        with db.transaction() as s:
            s.scalars(select(IntegrationProfile)).one().url = url
        clock.advance(timedelta(minutes=5))
        started = time.perf_counter()
        summary = await sync_profile(db, keys, clock, "bench")
        seconds = time.perf_counter() - started
        with db.sessions() as s:
            run = s.get_one(SyncRun, summary.run_id)
        syncs.append(
            {
                "seconds": seconds,
                "rss_mb": peak_rss_mb(),
                **{
                    k: getattr(summary, k)
                    for k in (
                        "pages",
                        "requests",
                        "accounts",
                        "created",
                        "updated",
                        "gone",
                        "candidates_created",
                        "candidates_canceled",
                        "candidates_closed",
                    )
                },
                **{
                    f"{stage}_s": getattr(run, f"{stage}_seconds") or 0.0
                    for stage in ("download", "staging", "switch_over", "evaluation")
                },
            }
        )
    db.dispose()
    return {"syncs": syncs, "rss_mb": peak_rss_mb()}


# --------------------------------------------------------------------------- orchestration


def start_sandbox(
    users: int, latency_ms: float, *, churn: bool = False, changed: bool = False
) -> Sandbox:
    port = free_port()
    mode = "1" if churn else "changed" if changed else "0"
    args = ["sandbox", str(users), str(latency_ms), str(port), mode]
    env = {**os.environ, "SHELFWARE_CLOCK": NOW.isoformat()}
    process = subprocess.Popen(
        [sys.executable, str(HERE), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the sandbox exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Sandbox(process, f"http://127.0.0.1:{port}/slm/webservice")
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the sandbox did not start")


def api_key() -> str:
    from shelfware.sandbox.org import api_key_for

    return api_key_for(SEED)


@dataclass
class Row:
    store: str
    users: int
    latency_ms: float
    fetch: float
    write: float
    first: dict[str, Any]
    second: dict[str, Any]
    rss_mb: float
    connector: float
    changed: dict[str, Any]

    @property
    def floor(self) -> float:
        return max(self.fetch, self.write)


def measure(users: int, latency_ms: float, stores: list[str]) -> list[Row]:
    sandbox = start_sandbox(users, latency_ms)
    changed = start_sandbox(users, latency_ms, changed=True)
    rows = []
    try:
        key = api_key()
        for database in stores:
            fetch = min(
                child("fetch", sandbox.url, key)["seconds"],
                child("fetch", sandbox.url, key)["seconds"],
            )
            write = child("write", str(users), database, "0")["seconds"]
            result = child("sync", database, key, sandbox.url, sandbox.url, changed.url)
            mapped = child("connector", sandbox.url, key)["seconds"]
            first, second, third = result["syncs"]
            store = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
            row = Row(
                store,
                users,
                latency_ms,
                fetch,
                write,
                first,
                second,
                result["rss_mb"],
                mapped,
                third,
            )
            print(table_row(row), flush=True)
            rows.append(row)
    finally:
        sandbox.stop()
        changed.stop()
    return rows


def table_row(r: Row) -> str:
    first, second = r.first["seconds"], r.second["seconds"]
    return (
        f"| {r.store} | {r.users:,} | {r.latency_ms:.0f} ms | {r.fetch:.2f} s | {r.write:.2f} s "
        f"| {first:.2f} s | **{first / r.floor:.2f}x** | {second:.2f} s "
        f"| **{second / r.fetch:.2f}x** | {r.changed['seconds']:.2f} s "
        f"| **{r.changed['seconds'] / r.fetch:.2f}x** | {r.rss_mb:.0f} MB | {stages(r.first)} "
        f"| {stages(r.second)} | {r.connector:.2f} s |"
    )


HEADER = (
    "| store | users | latency | raw fetch | raw write | first sync | first / floor "
    "| unchanged second sync | second / raw fetch | 5% changed sync | changed / raw fetch "
    "| peak RSS "
    "| first: download / staging / switch-over / rules (s) | second: same (s) "
    "| connector alone |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
    "| ---: | ---: |"
)


def churn_case(users: int, latency_ms: float, database: str) -> None:
    """Many open candidates, then a sync applying many new, changed and gone accounts."""
    before = start_sandbox(users, latency_ms)
    after = start_sandbox(users, latency_ms, churn=True)
    try:
        key = api_key()
        fetch = child("fetch", after.url, key)["seconds"]
        write = child("write", str(users), database, "1")["seconds"]
        result = child("sync", database, key, before.url, before.url, after.url)
    finally:
        before.stop()
        after.stop()
    store = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    print(
        "\n| store | users | latency | sync | seconds | raw fetch | raw write | new | changed "
        "| gone | candidates new / canceled / closed | download / staging / switch-over / "
        "rules (s) | peak RSS |\n"
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |"
    )
    for name, sync in zip(("first", "unchanged", "changed org"), result["syncs"], strict=True):
        print(
            f"| {store} | {users:,} | {latency_ms:.0f} ms | {name} | {sync['seconds']:.2f} s "
            f"| {fetch:.2f} s | {write:.2f} s | {sync['created']:,} | {sync['updated']:,} "
            f"| {sync['gone']:,} | {sync['candidates_created']:,} / "
            f"{sync['candidates_canceled']:,} / {sync['candidates_closed']:,} "
            f"| {stages(sync)} | {sync['rss_mb']:.0f} MB |",
            flush=True,
        )


def pg_answers(url: str) -> bool:
    try:
        import psycopg

        psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3).close()
    except Exception:
        return False
    return True


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("sandbox", "fetch", "connector", "write", "sync"):
        mode, args = sys.argv[1], sys.argv[2:]
        if mode == "sandbox":
            run_sandbox(int(args[0]), float(args[1]), int(args[2]), args[3])
        elif mode == "fetch":
            print(json.dumps(asyncio.run(raw_fetch(args[0], args[1]))))
        elif mode == "connector":
            print(json.dumps(asyncio.run(connector_alone(args[0], args[1]))))
        elif mode == "write":
            print(json.dumps(raw_write(int(args[0]), args[1], args[2] == "1")))
        else:
            print(json.dumps(asyncio.run(run_syncs(args[0], args[2:], args[1]))))
        return

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latencies", default="50,200", help="ms, comma-separated")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--churn", type=int, default=0, help="users of the changing-org case")
    parser.add_argument("--million", action="store_true", help="1,000,000 users, SQLite, 50 ms")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        stores = [] if args.no_sqlite else [f"sqlite:///{Path(tmp) / 'bench.db'}"]
        if args.pg_url:
            if pg_answers(args.pg_url):
                stores.append(args.pg_url)
            else:
                print(f"PostgreSQL at {args.pg_url} does not answer: skipped", file=sys.stderr)
        print(
            f"{datetime.now(UTC):%Y-%m-%d}, python {platform.python_version()}, "
            f"{os.cpu_count()} cores, pages of {PAGE}, {CONCURRENCY} in flight\n"
        )
        print(HEADER, flush=True)
        for latency in (float(v) for v in args.latencies.split(",") if v):
            measure(args.users, latency, stores)
        if args.million:
            measure(1_000_000, 50, stores[:1])
        if args.churn:
            for database in stores:
                churn_case(args.churn, 50, database)


if __name__ == "__main__":
    main()
