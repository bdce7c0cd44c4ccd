"""Benchmark: scale-out. Many profiles synced by several `shelfware worker` processes through
the distributed job mode, on a real PostgreSQL and a real Redis.

It starts one Rally sandbox per worker (the same people in each, as in a company whose staff
hold seats in many apps), measures the raw fetch of one profile against each sandbox, creates
``--profiles`` published profiles spread over the sandboxes, starts ``--workers`` worker
processes (``--concurrency 1`` each) and queues one sync per profile. While they run it samples
PostgreSQL's ``pg_stat_activity`` (what the busy sessions wait on) and ``pg_locks`` (which
relations sessions queue for). It reports:

- wall time from the first enqueue to the last job finished, jobs per minute;
- the target: wall <= 1.2 x (total raw fetch time / workers), where the total raw fetch time is
  the sum of the raw fetch of each profile (measured once per sandbox);
- that no profile was synced twice at once (sync runs of one profile never overlap) and that
  every job succeeded exactly once;
- the database's waits: the most sampled wait events and the relations waited on.

    python bench/scale_out.py [--profiles 50] [--users 20000] [--workers 3] [--latency 50]
                              [--pg-url URL] [--redis-url URL]

Prints Markdown (docs/benchmarks.md, docs/scaling.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_rally import api_key, child, reset_postgres, start_sandbox  # bench/ on sys.path
from vendor_common import Sandbox

HERE = Path(__file__).resolve()

WAITS = """
SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running')
FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
"""
LOCK_WAITS = """
SELECT coalesce(c.relname, l.locktype)
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
WHERE NOT l.granted
"""


class Sampler(threading.Thread):
    """Sample what PostgreSQL's busy sessions wait on, every ``every`` seconds."""

    def __init__(self, url: str, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url, self.every = url.replace("+psycopg", ""), every
        self.waits: collections.Counter[str] = collections.Counter()
        self.locks: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._done.is_set():
                for kind, event in conn.execute(WAITS).fetchall():
                    self.waits[f"{kind}:{event}"] += 1
                for (relation,) in conn.execute(LOCK_WAITS).fetchall():
                    self.locks[relation] += 1
                self.samples += 1
                self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join(10)


def create_profiles(url: str, keys: Any, sandboxes: list[Sandbox], count: int) -> list[str]:
    """``count`` published Rally profiles, spread round robin over the sandboxes."""
    from shelfware.kit.clock import SystemClock
    from shelfware.kit.db import Database
    from shelfware.profiles import service as profiles
    from shelfware.profiles.schemas import ProfileCreate
    from shelfware.store import upgrade

    reset_postgres(url)
    db = Database.from_url(url)
    upgrade(db.engine)
    clock = SystemClock()
    names = [f"app-{i:03d}" for i in range(1, count + 1)]
    secret = api_key()
    for i, name in enumerate(names):
        create = ProfileCreate(
            kind="rally",
            name=name,
            url=sandboxes[i % len(sandboxes)].url,
            secrets={"api_key": secret},
        )
        with db.transaction() as s:
            profiles.create_profile(s, keys, clock, create)
        asyncio.run(profiles.validate_profile(db, keys, clock, name))
        with db.transaction() as s:
            profiles.publish_profile(s, clock, profiles.get_profile(s, name))
    db.dispose()
    return names


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "shelfware.cli.main", "worker", "--concurrency", "1"]
    return [
        subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def overlaps(runs: list[tuple[int, datetime, datetime | None]]) -> int:
    """Pairs of runs of one profile whose intervals overlap."""
    by_profile: dict[int, list[tuple[datetime, datetime]]] = collections.defaultdict(list)
    for profile_id, started, finished in runs:
        by_profile[profile_id].append((started, finished or datetime.max))
    found = 0
    for intervals in by_profile.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            found += start < end
    return found


def measure(args: argparse.Namespace) -> list[str]:
    from cryptography.fernet import Fernet
    from sqlalchemy import func, select

    from shelfware.jobs.schemas import sync_job
    from shelfware.jobs.service import backend_for
    from shelfware.kit.clock import SystemClock
    from shelfware.kit.crypto import KeyRing
    from shelfware.kit.db import Database
    from shelfware.models import Job, SyncRun
    from shelfware.settings import Settings
    from shelfware.store import Store

    os.environ.setdefault("SHELFWARE_ALLOW_PRIVATE_URLS", "true")
    sandboxes = [start_sandbox(args.users, args.latency) for _ in range(args.workers)]
    try:
        fetch = [child("fetch", s.url, api_key()) for s in sandboxes]
        fetch_each = sum(f["seconds"] for f in fetch) / len(fetch)
        total_fetch = fetch_each * args.profiles
        secret_keys = Fernet.generate_key().decode()
        keys = KeyRing([secret_keys.encode()])
        names = create_profiles(args.pg_url, keys, sandboxes, args.profiles)
        queue_name = f"shelfware-bench-{uuid.uuid4().hex[:10]}"
        env = {
            **os.environ,
            "SHELFWARE_HOME": str(Path(args.home)),
            "SHELFWARE_DATABASE_URL": args.pg_url,
            "SHELFWARE_SECRET_KEYS": secret_keys,
            "SHELFWARE_JOBS": "distributed",
            "SHELFWARE_JOBS_BROKER_URL": args.redis_url,
            "SHELFWARE_JOBS_QUEUE": queue_name,
            "SHELFWARE_ALLOW_PRIVATE_URLS": "true",
        }
        workers = start_workers(args.workers, env)
        settings = Settings(
            database_url=args.pg_url,
            jobs="distributed",
            jobs_broker_url=args.redis_url,
            jobs_queue=queue_name,
        )
        db = Database.from_url(args.pg_url)
        backend = backend_for(Store(db=db, keys=keys), SystemClock(), settings)
        sampler = Sampler(args.pg_url)
        time.sleep(3)  # the workers connect to the broker
        sampler.start()
        started = time.perf_counter()
        for name in names:
            job, key = sync_job(name)
            backend.enqueue(job, key, actor="bench")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            with db.sessions() as s:
                open_jobs = s.scalar(
                    select(func.count()).where(Job.state.in_(("queued", "running")))
                )
            if not open_jobs:
                break
            time.sleep(0.2)
        wall = time.perf_counter() - started
        sampler.stop()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        with db.sessions() as s:
            states = collections.Counter(s.scalars(select(Job.state)))
            attempts = max(s.scalars(select(Job.attempts)), default=0)
            runs = [(r.profile_id, r.started_at, r.finished_at) for r in s.scalars(select(SyncRun))]
            ok = s.scalar(select(func.count()).where(SyncRun.status == "succeeded"))
        db.dispose()
    finally:
        for s in sandboxes:
            s.stop()

    target = 1.2 * total_fetch / args.workers
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d}, python {platform.python_version()}, "
        f"{os.cpu_count()} cores; {args.profiles} profiles x {args.users:,} users, "
        f"{args.workers} workers, {args.latency:g} ms vendor latency, PostgreSQL + Redis",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| raw fetch of one profile | {fetch_each:.2f} s |",
        f"| total raw fetch / workers | {total_fetch / args.workers:.1f} s |",
        f"| wall, first enqueue to last job done | {wall:.1f} s |",
        f"| ratio to (total fetch / workers) | {wall / (total_fetch / args.workers):.2f}x "
        f"(target <= 1.2x: {'met' if wall <= target else 'missed'}) |",
        f"| jobs per minute | {args.profiles / wall * 60:.1f} |",
        f"| job states | {dict(states)} (most attempts of one job: {attempts}) |",
        f"| sync runs succeeded | {ok} of {len(runs)} |",
        f"| runs of one profile overlapping | {overlaps(runs)} |",
        f"| PostgreSQL samples | {sampler.samples} |",
    ]
    waits = ", ".join(f"{k} {v}" for k, v in sampler.waits.most_common(6)) or "none"
    locks = ", ".join(f"{k} {v}" for k, v in sampler.locks.most_common(6)) or "none"
    lines += [f"| busiest waits (samples) | {waits} |", f"| lock queues (samples) | {locks} |"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=50)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--latency", type=float, default=50)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_scale"
        ),
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--home", default=str(Path.cwd() / ".bench-scale-home"))
    args = parser.parse_args()
    print("\n".join(measure(args)))


if __name__ == "__main__":
    main()
