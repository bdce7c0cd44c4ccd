"""Benchmark: a Google Workspace sync of N users x 3 SKUs each against the sandbox at Google's
documented per-user quota, next to the floor measured in the same run (issue 21).

Google's quota for the Admin SDK is per user (the impersonated admin): 2,400 queries a minute by
default. The sandbox runs with ``--faults google_qpm=2400`` (over it: 403
``userRateLimitExceeded``); the connector paces itself to the same quota (option
``queries_per_minute``, default 2,400) and backs off with jitter on a quota answer. The
Directory's users (500 a page) and the product's license assignments (1,000 a page) are lists
with ``pageToken`` cursors: the pages of one list come one after the other, so the floor fetches
them one after the other too, paced to the same quota.

Each measurement runs in its own process (bench/vendor_common.py):

- the raw fetch: httpx getting a token with a signed assertion, then every Directory users page
  and every license assignments page, JSON-decoded, no mapping, no database;
- the raw driver write of the same rows (one per user and SKU);
- a first sync into a fresh store (``--second``: and an unchanged second sync).

floor = max(raw fetch, raw write). Target: first sync <= 1.3x floor.

    python bench/sync_google.py [--users 100000] [--latency 50] [--pg-url URL] [--second]
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vendor_common import NOW, SEED, Shared, VendorBench, main, naive

HERE = Path(__file__).resolve()
QPM = 2400  # Admin SDK: queries per minute per user (Google's documented default)
PRODUCT = "Google-Apps"


def domain(users: int, token_uri: str = "") -> Any:
    """The sandbox domain with every user holding the 3 SKUs of the product."""
    from shelfware.sandbox.google import SKUS, generate_domain

    d = generate_domain(users, SEED, NOW, token_uri)
    for user in d.users:
        user.licenses = {sku: PRODUCT for sku, _ in SKUS}
    return d


def sandbox(port: int, users: int, latency_ms: float) -> tuple[Any, Shared]:
    """The domain, and for the clients its service account key (a fresh RSA key), the admin
    to impersonate and the customer id."""
    from shelfware.sandbox.faults import parse_faults
    from shelfware.sandbox.google import create_google_app

    d = domain(users, f"http://127.0.0.1:{port}/token")
    app = create_google_app(d, parse_faults(f"google_qpm={QPM},latency_ms={latency_ms:g}"))
    return app, {"key": json.dumps(d.service_account), "admin": d.admin, "customer": d.customer_id}


async def raw_fetch(base: str, users: int, shared: Shared) -> dict[str, Any]:
    """A token from a signed assertion, then every page of both lists, paced to the quota."""
    import httpx
    from google.auth import crypt
    from google.auth import jwt as google_jwt

    info, admin, customer = json.loads(shared["key"]), shared["admin"], shared["customer"]
    signer = crypt.RSASigner.from_service_account_info(info)
    window: collections.deque[float] = collections.deque()

    async def paced() -> None:
        while True:
            now = time.monotonic()
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) < QPM:
                window.append(now)
                return
            await asyncio.sleep(window[0] + 60.0 - now)

    started = time.perf_counter()
    pages = rows = 0
    async with httpx.AsyncClient(timeout=120) as client:
        now = int(time.time())
        claims = {
            "iss": info["client_email"],
            "sub": admin,
            "scope": "https://www.googleapis.com/auth/apps.licensing "
            "https://www.googleapis.com/auth/admin.directory.user.readonly",
            "aud": f"{base}/token",
            "iat": now,
            "exp": now + 3600,
        }
        assertion = google_jwt.encode(signer, claims).decode()
        token = await client.post(
            f"{base}/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
        token.raise_for_status()
        client.headers["Authorization"] = "Bearer " + token.json()["access_token"]

        async def listing(url: str, items: str, params: dict[str, Any]) -> tuple[int, int]:
            count = n = 0
            following: str | None = None
            while True:
                await paced()
                query = {**params, **({"pageToken": following} if following else {})}
                response = await client.get(url, params=query)
                response.raise_for_status()
                body = json.loads(response.content)
                count += 1
                n += len(body.get(items, []))
                following = body.get("nextPageToken")
                if not following:
                    return count, n

        p, _ = await listing(
            f"{base}/admin/directory/v1/users",
            "users",
            {"customer": "my_customer", "maxResults": 500, "projection": "basic"},
        )
        q, rows = await listing(
            f"{base}/apps/licensing/v1/product/{PRODUCT}/users",
            "items",
            {"customerId": customer, "maxResults": 1000},
        )
        pages = p + q
    return {"seconds": time.perf_counter() - started, "pages": pages, "rows": rows}


def same_rows(users: int) -> list[tuple[Any, ...]]:
    d = domain(users)
    first_seen = naive(NOW)
    return [
        (
            1,
            1,
            f"{PRODUCT}:{sku}:{u.email}",
            u.email,
            u.email,
            u.name,
            True,
            u.is_admin,
            sku,
            naive(u.created),
            naive(u.last_login),
            first_seen,
        )
        for u in d.users
        for sku in u.licenses
    ]


def profile(base: str, users: int, shared: Shared) -> dict[str, Any]:
    key, admin, customer = shared["key"], shared["admin"], shared["customer"]
    return {
        "kind": "google_workspace",
        "name": "bench",
        "url": base,
        "secrets": {"api_key": key},
        "options": {
            "customer": customer,
            "admin": admin,
            "token_uri": f"{base}/token",
            "directory_url": base,
        },
    }


BENCH = VendorBench(
    script=HERE,
    vendor="Google Workspace",
    throttling=f"google_qpm={QPM}/min",
    sandbox=sandbox,
    fetch=raw_fetch,
    rows=same_rows,
    profile=profile,
)


if __name__ == "__main__":
    main(BENCH, __doc__ or "")
