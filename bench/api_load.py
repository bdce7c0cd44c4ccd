"""Benchmark: the API and the workspace under load (issue 17).

Builds a synthetic organisation straight into a fresh store (SQLite file, or PostgreSQL at
``--pg-url`` whose public schema it DROPS): ``--subscriptions`` accounts over ``--models``
software models, ``--candidates`` open removal candidates (plus the closed history the
reconciliation bench writes), an admin API token and a web user. Then it starts
``shelfware serve`` as a subprocess, exactly as deployed, and runs ``--clients`` concurrent
clients for ``--seconds`` with a realistic mix: subscription pages (first and following,
filtered and sorted), people, the candidates queue (``limit=200`` and by state), the
reconciliation, usage and savings reports, the web dashboard (signed in), and a few writes
(entitlements added). ``--sync``: a Rally sandbox is synced again and again in another
process while the clients run (a sync writing).

Prints per request kind and overall: count, errors (anything but 2xx; 503s counted apart),
p50 / p95 / p99 latency, throughput. Targets: p95 < 300 ms, p99 < 1 s, 0 errors.

    python bench/api_load.py [--subscriptions 20000] [--candidates 2000] [--seconds 20]
        [--clients 50] [--pg-url URL] [--sync]
    python bench/api_load.py --subscriptions 1000000 --candidates 100000   # the issue's figure
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconcile import CHUNK, NOW, PROFILES, build
from sync_rally import api_key, free_port, pg_answers, reset_postgres, start_sandbox

# bench/ is on sys.path when run as a script

HERE = Path(__file__).resolve()
PASSWORD = "bench-password-1234"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def fill(url: str, subscriptions: int, candidates: int, models: int) -> dict[str, Any]:
    """The organisation, open candidates over the last subscriptions, a token and a user."""
    from cryptography.fernet import Fernet

    from shelfware.accounts import service as accounts
    from shelfware.accounts.roles import Role
    from shelfware.accounts.schemas import TokenCreate, UserCreate
    from shelfware.kit.clock import FrozenClock
    from shelfware.kit.db import Database, bulk_insert
    from shelfware.models import RemovalCandidate

    started = time.perf_counter()
    build(url, subscriptions, models, rules=False)  # bench/reconcile.py's organisation
    rng = random.Random(3)
    db = Database.from_url(url)
    candidates = min(candidates, subscriptions)
    states = ["ready"] * 6 + ["awaiting_user"] * 2 + ["awaiting_approval", "attention_required"]
    with db.engine.begin() as conn:
        first = subscriptions - candidates + 1
        for start in range(first, subscriptions + 1, CHUNK):
            rows = []
            for sub in range(start, min(subscriptions, start + CHUNK - 1) + 1):
                i = sub - 1
                rows.append(
                    (
                        sub,
                        i % PROFILES + 1,
                        i % models + 1,
                        rng.choice(states),
                        "low_usage",
                        rng.choice([None, 90, 120, 240, 480]),
                        rng.choice([None, 30, 60, 90, 180, 365]),
                        NOW - timedelta(days=rng.randint(0, 60)),
                        NOW,
                    )
                )
            bulk_insert(
                conn,
                RemovalCandidate.__table__,
                [
                    "subscription_id",
                    "profile_id",
                    "software_model_id",
                    "state",
                    "justification",
                    "potential_savings",
                    "inactive_days",
                    "created_at",
                    "updated_at",
                ],
                rows,
                instants=frozenset({7, 8}),
            )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    clock = FrozenClock(NOW)
    with db.transaction() as session:
        token = accounts.create_token(session, clock, TokenCreate(name="bench", role=Role.ADMIN))[0]
        accounts.create_user(
            session, clock, UserCreate(username="bench", password=PASSWORD, role=Role.ADMIN)
        )
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # the organisation was written with its ids: move each id sequence past them, or
            # the sync's new profile (and its new rows) would take id 1 again
            for table in ("integration_profile", "software_model", "person", "subscription"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            conn.exec_driver_sql("VACUUM ANALYZE")
    db.dispose()
    return {
        "token": token,
        "key": Fernet.generate_key().decode(),
        "build_seconds": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------- the load


def mix(models: int) -> list[tuple[str, int, Any]]:
    """(kind, weight, how to make one request) — weights roughly what a team's scripts, the
    workspace's users and a dashboard on a wall ask for."""
    profile = lambda: f"p{random.randint(1, PROFILES)}"  # noqa: E731
    return [
        ("subscriptions", 20, lambda: ("GET", "/api/v1/subscriptions", {"limit": 50})),
        (
            "subscriptions filtered",
            12,
            lambda: (
                "GET",
                "/api/v1/subscriptions",
                random.choice(
                    [
                        {"profile": profile(), "sort": "last_activity_at", "limit": 100},
                        {"q": random.choice("abcdefghu") + str(random.randint(1, 9))},
                        {"model": str(random.randint(1, models)), "admin": "false"},
                        {"stale_at": NOW.isoformat(), "limit": 200},
                    ]
                ),
            ),
        ),
        ("subscriptions next page", 8, None),  # follows a cursor handed out before
        ("people", 8, lambda: ("GET", "/api/v1/people", {"limit": 50})),
        ("candidates", 10, lambda: ("GET", "/api/v1/candidates", {"limit": 200})),
        (
            "candidates by state",
            6,
            lambda: (
                "GET",
                "/api/v1/candidates",
                {"state": random.choice(["ready", "awaiting_user"]), "limit": 100},
            ),
        ),
        ("reconciliation", 6, lambda: ("GET", "/api/v1/reconciliation", None)),
        ("reports usage", 5, lambda: ("GET", "/api/v1/reports/usage", None)),
        ("reports savings", 4, lambda: ("GET", "/api/v1/reports/savings", None)),
        ("dashboard", 8, lambda: ("GET", "/", None)),
        ("candidates page", 4, lambda: ("GET", "/candidates", None)),
        (
            "write: entitlement",
            3,
            lambda: (
                "POST",
                "/api/v1/entitlements",
                {
                    "model": str(random.randint(1, models)),
                    "seats": random.randint(1, 50),
                    "unit_cost": "12.50",
                    "contract_ref": f"bench-{random.randint(1, 10**9)}",
                },
            ),
        ),
    ]


async def sign_in(client: Any) -> str:
    """The web session cookie (sent by hand: it is Secure, and this is plain HTTP)."""
    page = await client.get("/sign-in")
    token = CSRF.search(page.text)
    assert token, "no CSRF token on the sign-in page"
    cookies = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
    answer = await client.post(
        "/sign-in",
        data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
        headers={"Cookie": cookies} if cookies else {},
    )
    assert answer.status_code == 303, answer.text[:300]
    return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


async def load(base: str, token: str, clients: int, seconds: float, models: int) -> dict[str, Any]:
    import httpx

    kinds = mix(models)
    weights = [w for _, w, _ in kinds]
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    shed: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    cursors: list[str] = []
    api = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        web = {"Cookie": await sign_in(client)}
        stop = time.monotonic() + seconds

        async def one_client(n: int) -> None:
            rng = random.Random(n)
            while time.monotonic() < stop:
                kind, _, make = rng.choices(kinds, weights)[0]
                if make is None:
                    if not cursors:
                        continue
                    method, path, params = (
                        "GET",
                        "/api/v1/subscriptions",
                        {"limit": 50, "cursor": rng.choice(cursors)},
                    )
                else:
                    method, path, params = make()
                headers = api if path.startswith("/api/") else web
                started = time.perf_counter()
                try:
                    if method == "GET":
                        response = await client.get(path, params=params, headers=headers)
                    else:
                        response = await client.post(path, json=params, headers=headers)
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status, response = 0, None
                    if len(samples) < 5:
                        samples.append(f"{kind}: {type(exc).__name__}: {exc}")
                took = time.perf_counter() - started
                timings[kind].append(took)
                if status == 503:
                    shed[kind] += 1
                elif not 200 <= status < 300:
                    errors[kind] += 1
                    if response is not None and len(samples) < 5:
                        samples.append(f"{kind}: {status} {response.text[:200]}")
                elif kind == "subscriptions" and response is not None:
                    following = response.json().get("next_cursor")
                    if following and len(cursors) < 200:
                        cursors.append(following)

        started = time.monotonic()
        await asyncio.gather(*(one_client(n) for n in range(clients)))
        elapsed = time.monotonic() - started
    return {
        "elapsed": elapsed,
        "timings": dict(timings),
        "errors": dict(errors),
        "shed": dict(shed),
        "samples": samples,
    }


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def report(name: str, result: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name}",
        "",
        "| requests | count | errors | 503 | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    everything: list[float] = []
    for kind, times in sorted(result["timings"].items()):
        everything += times
        lines.append(
            f"| {kind} | {len(times)} | {result['errors'].get(kind, 0)} | "
            f"{result['shed'].get(kind, 0)} | {quantile(times, 0.5) * 1000:.0f} | "
            f"{quantile(times, 0.95) * 1000:.0f} | {quantile(times, 0.99) * 1000:.0f} |"
        )
    errors, shed = sum(result["errors"].values()), sum(result["shed"].values())
    lines.append(
        f"| **all** | {len(everything)} | {errors} | {shed} | "
        f"{quantile(everything, 0.5) * 1000:.0f} | {quantile(everything, 0.95) * 1000:.0f} | "
        f"{quantile(everything, 0.99) * 1000:.0f} |"
    )
    lines += [
        "",
        f"Throughput: {len(everything) / result['elapsed']:.1f} requests/s over "
        f"{result['elapsed']:.1f} s.",
    ]
    if result["samples"]:
        lines += ["", "First errors:", *[f"- `{s}`" for s in result["samples"]]]
    return lines


# --------------------------------------------------------------------------- processes


def serve(
    url: str, home: Path, built: dict[str, Any], workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """``shelfware serve --workers N`` on a free port, as deployed (its own processes)."""
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "SHELFWARE_HOME": str(home),
        "SHELFWARE_DATABASE_URL": url,
        "SHELFWARE_SECRET_KEYS": built["key"],
        "SHELFWARE_JOBS_TICK_SECONDS": "86400",  # no scheduled syncs against fake URLs
    }
    shelfware = Path(sys.executable).with_name("shelfware")
    process = subprocess.Popen(
        [str(shelfware), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(home / "serve.log", "wb"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # N processes importing the app on a busy machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"shelfware serve exited: {(home / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"shelfware serve did not start: {(home / 'serve.log').read_text()[-2000:]}")


def sync_loop(url: str, sandbox_url: str, key: str, seconds: float) -> None:
    """In its own process: publish a Rally profile, then sync it again and again."""
    from sqlalchemy import select

    from shelfware.kit.clock import SystemClock
    from shelfware.kit.crypto import KeyRing
    from shelfware.kit.db import Database
    from shelfware.models import IntegrationProfile
    from shelfware.profiles import service as profiles
    from shelfware.profiles.schemas import ProfileCreate
    from shelfware.sync.service import sync_profile

    async def run() -> dict[str, Any]:
        db = Database.from_url(url)
        keys, clock = KeyRing.parse(key), SystemClock()
        # a profile per sandbox (each run of --sync starts one on its own port)
        name = f"bench-sync-{urlsplit(sandbox_url).port}"
        create = ProfileCreate(
            kind="rally", name=name, url=sandbox_url, secrets={"api_key": api_key()}
        )
        with db.transaction() as s:
            made = s.scalar(select(IntegrationProfile.id).where(IntegrationProfile.name == name))
            if made is None:  # (a port seen in a run before: made then)
                profiles.create_profile(s, keys, clock, create)
        if made is None:
            await profiles.validate_profile(db, keys, clock, name)
            with db.transaction() as s:
                profiles.publish_profile(s, clock, profiles.get_profile(s, name))
        syncs, stop = [], time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.perf_counter()
            await sync_profile(db, keys, clock, name)
            syncs.append(time.perf_counter() - started)
        db.dispose()
        return {"syncs": len(syncs), "seconds": syncs}

    print(json.dumps(asyncio.run(run())))


def measure(url: str, args: argparse.Namespace, home: Path) -> list[str]:
    if url.startswith("postgresql"):
        reset_postgres(url)
    built = fill(url, args.subscriptions, args.candidates, args.models)
    print(f"built in {built['build_seconds']:.1f} s", file=sys.stderr)
    lines: list[str] = []
    for workers in args.workers:
        for sync in [False, True] if args.sync == "both" else [args.sync == "yes"]:
            try:
                block = measure_one(url, args, home, built, workers, sync)
            except SystemExit as exc:  # one configuration failed: say so, go on
                block = [f"({workers} workers, sync {sync}: {exc})"]
            print("\n".join(["", *block]), flush=True)  # as it comes: a long run may stop
            lines += ["", *block]
    return lines


def load_average() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def measure_one(
    url: str,
    args: argparse.Namespace,
    home: Path,
    built: dict[str, Any],
    workers: int,
    sync: bool,
) -> list[str]:
    server, base = serve(url, home, built, workers)
    sandbox = syncer = None
    try:
        if sync:
            sandbox = start_sandbox(args.sync_users, 0.0)
            env = {**os.environ, "SHELFWARE_ALLOW_PRIVATE_URLS": "true"}
            syncer = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE),
                    "sync",
                    url,
                    sandbox.url,
                    built["key"],
                    str(args.seconds + 5),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(2)  # the profile validated, the first sync under way
        before = load_average()
        result = asyncio.run(load(base, built["token"], args.clients, args.seconds, args.models))
        lines = report(
            f"{'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}: "
            f"{args.subscriptions:,} subscriptions, {args.candidates:,} candidates, "
            f"{args.clients} clients, {args.seconds:.0f} s, {workers} worker process"
            + ("es" if workers > 1 else "")
            + (", a sync writing" if sync else ""),
            result,
        )
        lines.append(f"\nLoad average (1, 5, 15 min): {before} before, {load_average()} after.")
        if syncer is not None:
            out, err = syncer.communicate(timeout=900)
            if syncer.returncode == 0 and out.strip():
                syncs = json.loads(out.strip().splitlines()[-1])
                lines.append(
                    f"\nSyncs during the run: {syncs['syncs']} of {args.sync_users:,} users."
                )
            else:
                lines.append(f"\nThe sync failed: {err[-500:]}")
        return lines
    finally:
        if syncer is not None and syncer.poll() is None:
            syncer.terminate()
        if sandbox is not None:
            sandbox.stop()
        server.terminate()
        server.wait(30)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "sync":
        url, sandbox_url, key, seconds = sys.argv[2:6]
        sync_loop(url, sandbox_url, key, float(seconds))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=2_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pg-url", help="also on this PostgreSQL database (schema DROPPED)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument(
        "--sync",
        nargs="?",
        const="yes",
        default="no",
        choices=["yes", "no", "both"],
        help="a Rally sync writing meanwhile (both: a run without, then one with)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="shelfware serve --workers N: one run per value over the same store (e.g. 1 2)",
    )
    parser.add_argument("--sync-users", type=int, default=5_000)
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="shelfware-api-load-") as tmp:
        home = Path(tmp)
        if not args.no_sqlite:
            lines += measure(f"sqlite:///{home / 'bench.db'}", args, home)
        if args.pg_url:
            if pg_answers(args.pg_url):
                lines += measure(args.pg_url, args, home)
            else:
                lines += ["", f"(PostgreSQL skipped: nothing answers at {args.pg_url})"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
