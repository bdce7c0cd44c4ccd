"""What the benches share: each measurement runs in its own process (``child``), the stores
measured (``stores``: SQLite, and PostgreSQL when one answers); and for bench/sync_m365.py and
bench/sync_google.py (the structure of sync_rally.py): the sandbox in its own process, the
floor measured in the same run as the sync, the result a Markdown row for docs/benchmarks.md.

floor = max(raw fetch, raw write): the raw fetch is a plain httpx client fetching and
JSON-decoding the same pages the connector asks for, under the same documented throttling; the
raw write is the driver writing the same rows (sqlite3 ``executemany`` / psycopg ``COPY``) in
one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SEED = 1
# the sync reaches the sandbox on 127.0.0.1 through the kit's guarded client
os.environ.setdefault("SHELFWARE_ALLOW_PRIVATE_URLS", "true")


def child(script: Path, mode: str, *args: str) -> dict[str, Any]:
    """Run one measurement in its own process; it prints one JSON object."""
    done = subprocess.run(
        [sys.executable, str(script), mode, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench {mode} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def stores(tmp: Path, pg_url: str) -> list[tuple[str, str]]:
    """The stores to measure: SQLite in ``tmp``, and PostgreSQL at ``pg_url`` (its schema
    DROPped and created again) when one answers there; said on stderr when none does."""
    from sync_rally import pg_answers, reset_postgres  # imports this module: not at the top

    found = [("SQLite", f"sqlite:///{tmp / 'bench.db'}")]
    if pg_url:
        if pg_answers(pg_url):
            reset_postgres(pg_url)
            found.append(("PostgreSQL", pg_url))
        else:
            print(f"SKIPPED PostgreSQL: nothing answers at {pg_url}", file=sys.stderr)
    return found


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sandbox:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def start_sandbox(script: Path, *args: str) -> Sandbox:
    """Start `script sandbox PORT ARGS...` and wait until it answers."""
    port = free_port()
    env = {**os.environ, "SHELFWARE_CLOCK": NOW.isoformat()}
    process = subprocess.Popen(
        [sys.executable, str(script), "sandbox", str(port), *args],
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
                return Sandbox(process, f"http://127.0.0.1:{port}")
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the sandbox did not start")


SUBSCRIPTION_SHAPE = (
    "profile_id {int}, software_model_id {int}, external_id VARCHAR(200), "
    "username VARCHAR(300), email VARCHAR(320), display_name VARCHAR(300), active BOOLEAN, "
    "admin BOOLEAN, edition VARCHAR(200), created_in_app_at {ts}, last_activity_at {ts}, "
    "first_seen_at {ts}, UNIQUE (profile_id, external_id)"
)
COLUMNS = (
    "profile_id, software_model_id, external_id, username, email, display_name, active, admin, "
    "edition, created_in_app_at, last_activity_at, first_seen_at"
)


def raw_write(rows: list[tuple[Any, ...]], database: str) -> dict[str, Any]:
    """The driver writing `rows` (shaped like subscription) in one transaction."""
    if database.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database.replace("+psycopg", "")) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw")
            shape = SUBSCRIPTION_SHAPE.format(int="BIGINT", ts="TIMESTAMP WITHOUT TIME ZONE")
            conn.execute(f"CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, {shape})")
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY bench_raw ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            seconds = time.perf_counter() - started
            conn.execute("DROP TABLE bench_raw")
            conn.commit()
        return {"seconds": seconds, "rows": len(rows)}
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        shape = SUBSCRIPTION_SHAPE.format(int="INTEGER", ts="DATETIME")
        conn.execute(f"CREATE TABLE subscription (id INTEGER PRIMARY KEY, {shape})")
        text_rows = [
            (*r[:9], *(None if v is None else v.isoformat(" ") for v in r[9:])) for r in rows
        ]
        started = time.perf_counter()
        with conn:
            conn.executemany(
                f"INSERT INTO subscription ({COLUMNS}) VALUES ({', '.join('?' * 12)})", text_rows
            )
        seconds = time.perf_counter() - started
        conn.close()
    return {"seconds": seconds, "rows": len(rows)}


def naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


async def run_syncs(database: str, create: dict[str, Any], times: int) -> dict[str, Any]:
    """Create, validate and publish the profile `create` (ProfileCreate fields), then sync it
    `times` times: wall time, stage timings from the run record, peak RSS."""
    from cryptography.fernet import Fernet

    from shelfware.kit.clock import FrozenClock
    from shelfware.kit.crypto import KeyRing
    from shelfware.kit.db import Database
    from shelfware.models import SyncRun
    from shelfware.profiles import service as profiles
    from shelfware.profiles.schemas import ProfileCreate
    from shelfware.store import upgrade
    from shelfware.sync.service import sync_profile

    if database.startswith("postgresql"):
        reset_postgres(database)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(database.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    db = Database.from_url(database)
    upgrade(db.engine)
    keys = KeyRing([Fernet.generate_key()])
    clock = FrozenClock(NOW)
    data = ProfileCreate(**create)
    with db.transaction() as s:
        profiles.create_profile(s, keys, clock, data)
    report = await profiles.validate_profile(db, keys, clock, data.name)
    if not report.ok:
        raise SystemExit(f"validation failed: {report}")
    with db.transaction() as s:
        profiles.publish_profile(s, clock, profiles.get_profile(s, data.name))
    syncs = []
    for _ in range(times):
        clock.advance(timedelta(minutes=5))
        started = time.perf_counter()
        summary = await sync_profile(db, keys, clock, data.name)
        seconds = time.perf_counter() - started
        with db.sessions() as s:
            run = s.get_one(SyncRun, summary.run_id)
        syncs.append(
            {
                "seconds": seconds,
                "rss_mb": peak_rss_mb(),
                "requests": summary.requests,
                "retries": summary.retries,
                "accounts": summary.accounts,
                **{
                    f"{stage}_s": getattr(run, f"{stage}_seconds") or 0.0
                    for stage in ("download", "staging", "switch_over", "evaluation")
                },
            }
        )
    db.dispose()
    return {"syncs": syncs, "rss_mb": peak_rss_mb()}


def stages(sync: dict[str, Any]) -> str:
    return (
        f"{sync['download_s']:.1f} / {sync['staging_s']:.1f} / {sync['switch_over_s']:.1f} / "
        f"{sync['evaluation_s']:.1f}"
    )


HEADER = (
    "| date | vendor | store | users | licenses | latency | throttling | raw fetch | raw write "
    "| first sync | first / floor | unchanged second sync | second / raw fetch | requests "
    "| retries | peak RSS | first: download / staging / switch-over / rules (s) |\n"
    "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: "
    "| ---: | ---: | ---: | ---: |"
)


def table_row(
    vendor: str,
    database: str,
    users: int,
    licenses: int,
    latency_ms: float,
    throttling: str,
    fetch: float,
    write: float,
    result: dict[str, Any],
) -> str:
    first = result["syncs"][0]
    second = result["syncs"][1] if len(result["syncs"]) > 1 else None
    floor = max(fetch, write)
    store = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    second_text = (
        f"{second['seconds']:.1f} s | **{second['seconds'] / fetch:.2f}x**"
        if second
        else "not run | n/a"
    )
    return (
        f"| {datetime.now(UTC):%Y-%m-%d} | {vendor} | {store} | {users:,} | {licenses:,} "
        f"| {latency_ms:.0f} ms | {throttling} | {fetch:.1f} s | {write:.1f} s "
        f"| {first['seconds']:.1f} s | **{first['seconds'] / floor:.2f}x** | {second_text} "
        f"| {first['requests']:,} | {first['retries']} | {result['rss_mb']:.0f} MB "
        f"| {stages(first)} |"
    )


def second_stages(result: dict[str, Any]) -> str:
    """The unchanged second sync's stage timings (a line under the table), if it ran."""
    if len(result["syncs"]) < 2:
        return ""
    return (
        f"second sync: download / staging / switch-over / rules (s) = {stages(result['syncs'][1])}"
    )


# --------------------------------------------------------------------------- the vendor benches

Shared = dict[str, Any]  # what the sandbox tells the clients (a key file, the admin, ...)


@dataclass(frozen=True)
class VendorBench:
    """What a vendor bench (bench/sync_m365.py, bench/sync_google.py) supplies; `main` does the
    rest: the processes, the stores, the table.

    - `sandbox(port, users, latency_ms)`: the sandbox app and what its clients need to know;
    - `fetch(url, users, shared)`: the raw fetch (``{"seconds", "pages", "rows"}``);
    - `rows(users)`: the rows the raw write writes (shaped like subscription);
    - `profile(url, users, shared)`: the profile synced (ProfileCreate fields)."""

    script: Path
    vendor: str
    throttling: str
    sandbox: Callable[[int, int, float], tuple[Any, Shared]]
    fetch: Callable[[str, int, Shared], Awaitable[dict[str, Any]]]
    rows: Callable[[int], list[tuple[Any, ...]]]
    profile: Callable[[str, int, Shared], dict[str, Any]]


def _serve(bench: VendorBench, port: int, users: int, latency_ms: float, path: str) -> None:
    """The sandbox process: what the clients need goes to `path` (0600) before it serves."""
    from shelfware.sandbox.server import serve_forever

    app, shared = bench.sandbox(port, users, latency_ms)
    written = Path(path + ".tmp")
    written.touch(mode=0o600)
    written.write_text(json.dumps(shared))
    written.rename(path)
    serve_forever(app, "127.0.0.1", port)


def _measure(bench: VendorBench, mode: str, args: list[str]) -> None:
    """One measurement in this process (a child of `main`); prints one JSON object."""
    if mode == "sandbox":
        _serve(bench, int(args[0]), int(args[1]), float(args[2]), args[3])
        return
    if mode == "write":
        print(json.dumps(raw_write(bench.rows(int(args[0])), args[1])))
        return
    if mode == "fetch":
        url, users, shared = args[0], int(args[1]), json.loads(Path(args[2]).read_text())
        print(json.dumps(asyncio.run(bench.fetch(url, users, shared))))
        return
    database, url, times, users = args[0], args[1], int(args[2]), int(args[3])
    create = bench.profile(url, users, json.loads(Path(args[4]).read_text()))
    print(json.dumps(asyncio.run(run_syncs(database, create, times))))


def main(bench: VendorBench, doc: str) -> None:
    """``script [--users N] [--latency MS] [--pg-url URL] [--second]``: the sandbox in its own
    process, then per store the raw fetch, the raw write and the sync(s), each in its own."""
    if len(sys.argv) > 1 and sys.argv[1] in ("sandbox", "fetch", "write", "sync"):
        _measure(bench, sys.argv[1], sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=50.0, help="ms per request")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--second", action="store_true", help="also an unchanged second sync")
    args = parser.parse_args()
    users = str(args.users)
    with tempfile.TemporaryDirectory() as tmp:
        databases = [f"sqlite:///{Path(tmp) / 'bench.db'}"] + ([args.pg_url] if args.pg_url else [])
        shared = str(Path(tmp) / "shared.json")
        sandbox = start_sandbox(bench.script, users, str(args.latency), shared)
        try:
            print(HEADER, flush=True)
            for database in databases:
                fetch = child(bench.script, "fetch", sandbox.url, users, shared)
                write = child(bench.script, "write", users, database)
                times = "2" if args.second else "1"
                result = child(bench.script, "sync", database, sandbox.url, times, users, shared)
                row = table_row(
                    bench.vendor,
                    database,
                    args.users,
                    fetch["rows"],
                    args.latency,
                    bench.throttling,
                    fetch["seconds"],
                    write["seconds"],
                    result,
                )
                print(row, flush=True)
                if args.second:
                    print(second_stages(result), file=sys.stderr, flush=True)
        finally:
            sandbox.stop()
