"""Benchmark: a sync of N Rally users from the sandbox with injected latency.

Records wall time next to the floor — the larger of (pages / 12 x latency) and the raw
driver's own time to write the same rows, measured in the same run — plus accounts/s and the
peak memory of the syncing process. The sandbox runs in its own process so its CPU and memory
are not counted against the sync.

    python bench/sync_rally.py [--users 100000] [--latency-ms 50] [--database URL]

Prints a Markdown table (paste it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import resource
import socket
import sqlite3
import subprocess
import sys
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
from shelfware.sandbox.org import generate_org
from shelfware.store import upgrade
from shelfware.sync.service import sync_profile

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PAGE = 2000
RALLY_CONCURRENCY = 12


class StageTimer:
    """A SyncProgress that records how long each stage took."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._current: tuple[str, float] | None = None

    def pages(self, done: int, accounts: int, total: int | None) -> None:
        pass

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        if self._current:
            self.spent[self._current[0]] = now - self._current[1]
        self._current = (name, now)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(users: int, latency_ms: float, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHELFWARE_CLOCK": NOW.isoformat()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfware.cli.main",
            "sandbox",
            "rally",
            "--port",
            str(port),
            "--users",
            str(users),
            "--seed",
            "1",
            "--latency-ms",
            str(latency_ms),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the sandbox did not start")


def raw_sqlite_floor(rows: list[tuple[object, ...]]) -> float:
    """sqlite3 executemany of the same rows into a table of the same shape, one transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE subscription (id INTEGER PRIMARY KEY, profile_id INT, model_id INT, "
            "external_id TEXT, username TEXT, email TEXT, display_name TEXT, active BOOL, "
            "admin BOOL, edition TEXT, created_in_app_at TEXT, last_activity_at TEXT, "
            "first_seen_at TEXT, UNIQUE (profile_id, external_id))"
        )
        started = time.perf_counter()
        with conn:
            conn.executemany(
                "INSERT INTO subscription (profile_id, model_id, external_id, username, email, "
                "display_name, active, admin, edition, created_in_app_at, last_activity_at, "
                "first_seen_at) VALUES (1, 1, ?, ?, ?, ?, ?, ?, 'Unlimited', ?, ?, ?)",
                rows,
            )
        elapsed = time.perf_counter() - started
        conn.close()
    return elapsed


def raw_postgres_floor(url: str, rows: list[tuple[object, ...]]) -> float:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw")
        conn.execute(
            "CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, profile_id INT, model_id INT, "
            "external_id TEXT, username TEXT, email TEXT, display_name TEXT, active BOOL, "
            "admin BOOL, edition TEXT, created_in_app_at TIMESTAMP, last_activity_at TIMESTAMP, "
            "first_seen_at TIMESTAMP, UNIQUE (profile_id, external_id))"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_raw (profile_id, model_id, external_id, username, email, "
                "display_name, active, admin, edition, created_in_app_at, last_activity_at, "
                "first_seen_at) VALUES (1, 1, %s, %s, %s, %s, %s, %s, 'Unlimited', %s, %s, %s)",
                rows,
            )
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw")
        conn.commit()
    return elapsed


def same_rows(users: int) -> list[tuple[object, ...]]:
    org = generate_org(users, 1, NOW)
    rows = []
    for u in org.users:
        last = u.last_activity
        rows.append(
            (
                str(u.object_id),
                u.username,
                u.email,
                u.display_name,
                not u.disabled,
                bool(u.subscription_admin),
                u.creation_date.replace(tzinfo=None),
                last.replace(tzinfo=None) if last else None,
                NOW.replace(tzinfo=None),
            )
        )
    return rows


async def run_sync(database_url: str, url: str, api_key: str) -> tuple[float, object]:
    db = Database.from_url(database_url)
    upgrade(db.engine)
    keys = KeyRing([Fernet.generate_key()])
    clock = FrozenClock(NOW)
    with db.transaction() as s:
        profiles.create_profile(
            s,
            keys,
            clock,
            ProfileCreate(kind="rally", name="bench", url=url, secrets={"api_key": api_key}),
        )
    await profiles.validate_profile(db, keys, clock, "bench")
    with db.transaction() as s:
        p = profiles.get_profile(s, "bench")
        profiles.publish_profile(s, clock, p)
    stages = StageTimer()
    started = time.perf_counter()
    summary = await sync_profile(db, keys, clock, "bench", progress=stages)
    elapsed = time.perf_counter() - started
    stages.stage("end")
    print(
        "stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.spent.items()), file=sys.stderr
    )
    db.dispose()
    return elapsed, summary


def reset_postgres(url: str) -> None:
    from sqlalchemy import text

    db = Database.from_url(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    port = free_port()
    sandbox = start_sandbox(args.users, args.latency_ms, port)
    try:
        api_key = generate_org(1, 1, NOW).api_key
        url = f"http://127.0.0.1:{port}/slm/webservice"
        with tempfile.TemporaryDirectory() as tmp:
            database = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
            if database.startswith("postgresql"):
                reset_postgres(database)
            wall, summary = asyncio.run(run_sync(database, url, api_key))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = same_rows(args.users)
        if database.startswith("postgresql"):
            driver = raw_postgres_floor(database, rows)
        else:
            driver = raw_sqlite_floor(rows)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    pages = math.ceil(args.users / PAGE)
    network_floor = pages / RALLY_CONCURRENCY * args.latency_ms / 1000
    floor = max(network_floor, driver)
    engine = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    print(
        f"| {datetime.now(UTC):%Y-%m-%d} | {engine} | {args.users:,} | {args.latency_ms:.0f} ms "
        f"| {pages} | {summary.requests} | {wall:.2f} s | {network_floor:.2f} s | {driver:.2f} s "
        f"| {wall / floor:.2f}x | {args.users / wall:,.0f} | {peak_mb:.0f} MB |"
    )
    print(
        f"(python {platform.python_version()}, {os.cpu_count()} cores; "
        f"accounts={summary.accounts}, created={summary.created}, "
        f"candidates={summary.candidates_created})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
