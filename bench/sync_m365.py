"""Benchmark: a Microsoft 365 sync of N users x 3 SKUs each against the sandbox at Graph's
documented throttling, next to the floor measured in the same run (issue 21).

Graph's throttling for the identity service (users, subscribedSkus, directoryRoles): a budget of
resource units per app and tenant, 8,000 per 10 seconds for a large tenant (over 500 users);
listing users costs 2 units, 1 with ``$select``. The sandbox runs with ``--faults graph_ru=8000``
(over it: 429 with Retry-After, which the connector honours). Users are listed 120 a page (Graph's
page size when ``signInActivity`` is selected), following ``@odata.nextLink``: the pages cannot
be fetched in parallel, so the floor fetches them one after the other too.

Each measurement runs in its own process (bench/vendor_common.py):

- the raw fetch: httpx getting a token, then the same requests the connector makes
  (subscribedSkus, directoryRoles with members, the signInActivity probe, every users page),
  JSON-decoded, no mapping, no database;
- the raw driver write of the same rows (one per user and SKU);
- a first sync into a fresh store (and, with ``--second``, an unchanged second sync): wall
  time, stage timings from the run record, the syncing process's peak RSS.

floor = max(raw fetch, raw write). Target: first sync <= 1.3x floor.

    python bench/sync_m365.py [--users 100000] [--latency 50] [--pg-url URL] [--second]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vendor_common import NOW, SEED, Shared, VendorBench, main, naive

HERE = Path(__file__).resolve()
GRAPH_RU = 8000  # resource units per 10 s per app and tenant (large tenant), Graph's table
FIELDS = (
    "id,userPrincipalName,mail,displayName,accountEnabled,userType,createdDateTime,"
    "assignedLicenses,licenseAssignmentStates,signInActivity"
)


def tenant(users: int) -> Any:
    """The sandbox tenant with every user holding the 3 SKUs (E5 through a group for a quarter
    of them); prepaid units 5% above what is assigned."""
    from shelfware.sandbox.microsoft365 import SKUS, Sku, generate_tenant

    t = generate_tenant(users, SEED, NOW)
    e3, e5, visio = (sid for sid, _ in SKUS)
    group = next(iter(t.groups))
    for i, user in enumerate(t.users):
        user.licenses = {e3: None, e5: group if i % 4 == 0 else None, visio: None}
    t.skus = [Sku(sid, part, t.consumed(sid) * 105 // 100) for sid, part in SKUS]
    return t


def sandbox(port: int, users: int, latency_ms: float) -> tuple[Any, Shared]:
    from shelfware.sandbox.faults import parse_faults
    from shelfware.sandbox.microsoft365 import create_m365_app

    faults = parse_faults(f"graph_ru={GRAPH_RU},latency_ms={latency_ms:g}")
    return create_m365_app(tenant(users), faults), {}  # the tenant is the same in every process


async def raw_fetch(base: str, users: int, shared: Shared) -> dict[str, Any]:
    """Token, then the connector's requests one after the other (nextLink paging), decoded."""
    import httpx

    t = tenant(users)  # its client id and secret
    started = time.perf_counter()
    pages = rows = 0
    async with httpx.AsyncClient(timeout=120) as client:
        token = await client.post(
            f"{base}/{t.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": t.client_id,
                "client_secret": t.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        token.raise_for_status()
        client.headers["Authorization"] = "Bearer " + token.json()["access_token"]

        async def get(url: str, params: dict[str, Any] | None = None) -> Any:
            while True:
                response = await client.get(url, params=params)
                if response.status_code in (429, 503):  # Graph's throttling: as it says
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                response.raise_for_status()
                return json.loads(response.content)

        await get(f"{base}/v1.0/subscribedSkus")
        await get(f"{base}/v1.0/directoryRoles", {"$expand": "members"})
        await get(f"{base}/v1.0/users", {"$select": "id,signInActivity", "$top": 1})
        url: str | None = f"{base}/v1.0/users"
        params: dict[str, Any] | None = {"$select": FIELDS, "$top": 999}
        while url:
            body = await get(url, params)
            pages += 1
            rows += sum(len(u["assignedLicenses"]) for u in body["value"])
            url, params = body.get("@odata.nextLink"), None
    return {"seconds": time.perf_counter() - started, "pages": pages, "rows": rows}


def same_rows(users: int) -> list[tuple[Any, ...]]:
    t = tenant(users)
    first_seen = naive(NOW)
    return [
        (
            1,
            1,
            f"{u.id}:{sku}",
            u.upn,
            u.mail,
            u.display_name,
            True,
            False,
            sku,
            naive(u.created),
            naive(u.last_interactive),
            first_seen,
        )
        for u in t.users
        for sku in u.licenses
    ]


def profile(base: str, users: int, shared: Shared) -> dict[str, Any]:
    t = tenant(users)
    return {
        "kind": "microsoft365",
        "name": "bench",
        "url": f"{base}/v1.0",
        "secrets": {"client_id": t.client_id, "client_secret": t.client_secret},
        "options": {"tenant": t.tenant_id, "authority": base},
    }


BENCH = VendorBench(
    script=HERE,
    vendor="Microsoft 365",
    throttling=f"graph_ru={GRAPH_RU}/10 s",
    sandbox=sandbox,
    fetch=raw_fetch,
    rows=same_rows,
    profile=profile,
)


if __name__ == "__main__":
    main(BENCH, __doc__ or "")
