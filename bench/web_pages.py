"""Bench: the workspace's dashboard and subscriptions page over 1,000,000 subscriptions.

Fills a database (DROPs the schema of --pg-url first; or a fresh SQLite file) with three
profiles, three software models with rules and entitlements, and N subscriptions written in
bulk (COPY on PostgreSQL), then serves the app exactly as ``shelfware serve`` does, on a
loopback port, and times real HTTP requests of a signed-in admin:

- the dashboard: cold (first request after a change: every figure computed again) and warm
  (the data did not change since the last request);
- the subscriptions page: the first page, filtered pages (profile, model, stale, admin, a user
  name prefix) and a page deep in the list (keyset paging: page 20,000 costs what page 1 does);
- every other page: candidates, entitlements, people, runs, audit, the reports list and each
  report on screen;
- the CSV export of every subscription (``/subscriptions?format=csv``, streamed): rows a
  second, time to the first byte, and the memory the process grew by meanwhile.

    python bench/web_pages.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/web_pages.py --sqlite /tmp/bench.db --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psutil
from cryptography.fernet import Fernet
from sqlalchemy import text

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role
from shelfware.accounts.schemas import UserCreate
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database, bulk_insert, refresh_statistics
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.sandbox.server import serve_in_thread
from shelfware.serve import create_app
from shelfware.store import Store, upgrade
from shelfware.subscriptions.service import encode_cursor

# the sandbox answers on 127.0.0.1: a loopback URL, allowed here as in `shelfware demo`
os.environ.setdefault("SHELFWARE_ALLOW_PRIVATE_URLS", "true")

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "bench password 1234"
APPS = [  # kind, share of the rows, model (publisher, product, edition), seat price per year
    ("rally", 0.6, ("Broadcom", "Rally", "Unlimited"), "540"),
    ("asana", 0.3, ("Asana", "Asana", "Business"), "300"),
    ("roadmunk", 0.1, ("Tempo", "Roadmunk", "Professional"), "480"),
]
COLUMNS = [
    "profile_id",
    "software_model_id",
    "external_id",
    "username",
    "email",
    "display_name",
    "active",
    "admin",
    "edition",
    "created_in_app_at",
    "last_activity_at",
    "first_seen_at",
    "last_seen_at",
]
INSTANTS = frozenset({9, 10, 11, 12})


def fill(db: Database, keys: KeyRing, clock: FrozenClock, rows: int) -> None:
    rng = random.Random(11)
    targets = []
    with db.transaction() as session:
        for kind, share, (publisher, product, edition), price in APPS:
            profile = profiles.create_profile(
                session,
                keys,
                clock,
                ProfileCreate(
                    kind=kind,
                    name=f"{kind}-bench",
                    url=f"http://127.0.0.1:9/{kind}",
                    secrets={"api_key": "bench"},
                ),
            )
            model = profiles.ensure_software_model(session, clock, publisher, product, edition)
            session.flush()
            licensing.add_entitlement(
                session,
                clock,
                EntitlementCreate(
                    model=str(model.id),
                    seats=int(rows * share * 0.9),
                    unit_cost=Decimal(price),
                    renewal_date=(NOW + timedelta(days=90 + 30 * len(targets))).date(),
                    notice_date=(NOW + timedelta(days=30 + 30 * len(targets))).date(),
                    contract_ref=f"BENCH-{kind.upper()}",
                ),
            )
            targets.append((profile.id, model.id, int(rows * share), edition))
    started = time.perf_counter()
    names = ["ana", "ben", "carla", "dev", "eli", "fay", "gus", "hana", "ivo", "jo"]
    batch: list[tuple[object, ...]] = []
    with db.engine.begin() as conn:
        n = 0
        for profile_id, model_id, count, edition in targets:
            for i in range(count):
                n += 1
                created = NOW - timedelta(days=rng.randint(1, 1500))
                roll = rng.random()
                last = (
                    None
                    if roll < 0.08
                    else max(created, NOW - timedelta(days=rng.expovariate(1 / 45)))
                )
                user = f"{names[n % 10]}.{n}"
                batch.append(
                    (
                        profile_id,
                        model_id,
                        f"{profile_id}-{i}",
                        user,
                        f"{user}@example.com",
                        user.title(),
                        True,
                        rng.random() < 0.01,
                        edition,
                        created,
                        last,
                        NOW - timedelta(days=2),
                        NOW,
                    )
                )
                if len(batch) >= 50_000:
                    bulk_insert(conn, Subscription.__table__, COLUMNS, batch, instants=INSTANTS)
                    batch = []
        bulk_insert(conn, Subscription.__table__, COLUMNS, batch, instants=INSTANTS)
        refresh_statistics(conn, "subscription")
    print(f"filled {rows:,} subscriptions in {time.perf_counter() - started:.1f}s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(client: httpx.Client, path: str, times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return seconds


def bench(
    db: Database,
    label: str,
    rows: int,
    repeat: int,
    reuse: bool = False,
    export_only: bool = False,
) -> list[str]:
    keys = KeyRing([Fernet.generate_key()])
    clock = FrozenClock(NOW)
    if not reuse:  # else the store a previous run filled (its profiles' secrets unread)
        upgrade(db.engine)
        fill(db, keys, clock, rows)
        with db.transaction() as session:
            accounts.create_user(
                session, clock, UserCreate(username="admin", password=PASSWORD, role=Role.ADMIN)
            )
    app = create_app(store=Store(db=db, keys=keys), clock=clock)
    lines = []
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        # the session cookie is Secure (the workspace runs behind TLS); over loopback HTTP the
        # bench hands it back itself
        visit = client.get("/sign-in")
        token = visit.text.split('name="csrf-token" content="')[1].split('"')[0]
        client.cookies.set("shelfware_session", visit.cookies["shelfware_session"])
        signed = client.post(
            "/sign-in", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 303, signed.text
        client.cookies.set("shelfware_session", signed.cookies["shelfware_session"])
        if export_only:
            return [export(client, label, rows)]
        first = measure(client, "/", 1)  # the first dashboard of the process counts in line
        after_change: list[float] = []
        recount: list[float] = []
        for i in range(max(3, repeat // 10)):
            with db.transaction() as session:  # any audited write changes the figures' stamp
                profiles.set_processes(
                    session,
                    clock,
                    profiles.get_profile(session, "rally-bench"),
                    analyze_from=NOW - timedelta(days=10 + i),  # within 60 days of creation
                )
            changed = time.perf_counter()
            after_change += measure(client, "/", 1)  # the previous figures, marked updating
            while 'id="updating"' in client.get("/").text:
                time.sleep(0.02)
            recount.append(time.perf_counter() - changed)
        warm = measure(client, "/", repeat)
        cases = {
            "dashboard, first of the process (counted in line)": first,
            "dashboard, first request after a change (previous figures)": after_change,
            "dashboard, change -> current figures shown (recount)": recount,
            "dashboard, figures current": warm,
            "subscriptions, first page": measure(client, "/subscriptions", repeat),
            "subscriptions, profile filter": measure(
                client, "/subscriptions?profile=asana-bench", repeat
            ),
            "subscriptions, model filter": measure(client, "/subscriptions?model=3", repeat),
            "subscriptions, stale only": measure(client, "/subscriptions?stale=on", repeat),
            "subscriptions, admins only": measure(client, "/subscriptions?admin=yes", repeat),
            "subscriptions, user name search": measure(
                client, "/subscriptions?search=hana.77", repeat
            ),
            "subscriptions, deep page (after 900,000)": measure(
                client, "/subscriptions?cursor=" + encode_cursor("id", False, None, 900_000), repeat
            ),
        }
        for path in (
            "/candidates",
            "/entitlements",
            "/people",
            "/runs",
            "/audit",
            "/reports",
            "/reports/trends",
        ):
            cases[path] = measure(client, path, max(3, repeat // 5))
        # a report over every seat is kept until its data changes (as the dashboard's
        # figures are): its first request builds it, the next ones are served kept
        for path in (
            "/reports/compliance",
            "/reports/usage",
            "/reports/savings",
            "/reports/renewals",
            "/reports/chargeback",
        ):
            cases[f"{path}, built (first of the process)"] = measure(client, path, 1)
            cases[f"{path}, kept (data unchanged)"] = measure(client, path, repeat)
        # after a change: the previous figures (with a note) while one rebuild runs in the
        # background (reports.kept), then the time until the current ones are served
        for path in ("/reports/compliance", "/reports/savings", "/reports/renewals"):
            answered: list[float] = []
            rebuilt: list[float] = []
            for i in range(3):
                with db.transaction() as session:  # an audited write: a new data stamp
                    profiles.set_processes(
                        session,
                        clock,
                        profiles.get_profile(session, "rally-bench"),
                        analyze_from=NOW - timedelta(days=20 + i),
                    )
                changed = time.perf_counter()
                answered += measure(client, path, 1)
                while "is being built again" in client.get(path).text:
                    time.sleep(0.02)
                rebuilt.append(time.perf_counter() - changed)
            cases[f"{path}, first request after a change (previous figures)"] = answered
            cases[f"{path}, change -> current figures (rebuilt in the background)"] = rebuilt
        # the people report without a person: a keyset page, not every account
        cases["/reports/people, first page"] = measure(client, "/reports/people", repeat)
        for name, seconds in cases.items():
            line = (
                f"| {label} | {name} | {len(seconds)} | {statistics.median(seconds) * 1000:.0f} "
                f"| {percentile(seconds, 95) * 1000:.0f} | {max(seconds) * 1000:.0f} |"
            )
            lines.append(line)
            print(line, flush=True)
        lines.append(export(client, label, rows))
    return lines


def export(client: httpx.Client, label: str, rows: int) -> str:
    """Every subscription as CSV: rows a second, the time to the first byte, and how much the
    process's memory grew while it streamed (sampled every 20 ms)."""
    process = psutil.Process()
    before = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    cpu_before = sum(process.cpu_times()[:2])
    started = time.perf_counter()
    first_byte = None
    lines = 0
    with client.stream("GET", "/subscriptions?format=csv") as answer:
        assert answer.status_code == 200, answer.status_code
        for piece in answer.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - started
            lines += piece.count(b"\n")
    seconds = time.perf_counter() - started
    cpu = sum(process.cpu_times()[:2]) - cpu_before  # server and client: one process
    done.set()
    watcher.join()
    line = (
        f"| {label} | CSV export of all {rows:,} subscriptions | {rows / seconds:,.0f} rows/s "
        f"| first byte {1000 * (first_byte or 0):.0f} ms | {seconds:.1f} s in all "
        f"| memory +{(peak - before) / 2**20:.0f} MiB "
        f"| {rows / cpu:,.0f} rows per CPU second (server and client) |"
    )
    print(line, flush=True)
    assert lines - 1 == rows, (lines, rows)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--pg-url", help="PostgreSQL URL; its public schema is DROPPED")
    parser.add_argument("--sqlite", type=Path, help="a SQLite file to create (replaced)")
    parser.add_argument("--export-only", action="store_true", help="time only the CSV export")
    parser.add_argument(
        "--reuse", action="store_true", help="time the store a previous run filled, as it is"
    )
    args = parser.parse_args()
    print("| store | request | n | median ms | p95 ms | max ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    if args.pg_url:
        db = Database.from_url(args.pg_url)
        if not args.reuse:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        bench(db, "PostgreSQL", args.rows, args.repeat, args.reuse, args.export_only)
        db.dispose()
    if args.sqlite:
        if not args.reuse:
            args.sqlite.unlink(missing_ok=True)
        db = Database.from_url(f"sqlite:///{args.sqlite}")
        bench(db, "SQLite", args.rows, args.repeat, args.reuse, args.export_only)
        db.dispose()


if __name__ == "__main__":
    main()
