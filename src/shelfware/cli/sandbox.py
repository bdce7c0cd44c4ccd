"""`shelfware sandbox VENDOR`: a local emulator of a vendor's admin API."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.cli.context import clock, console, fail
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import parse_faults
from shelfware.sandbox.server import serve_forever


def sandbox(
    vendor: Annotated[str, typer.Argument(help="rally")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8081,
    users: Annotated[int, typer.Option(min=1)] = 2000,
    seed: Annotated[int, typer.Option()] = 1,
    latency_ms: Annotated[float, typer.Option(min=0)] = 0,
    faults: Annotated[str, typer.Option(help="e.g. error_rate=0.05,fail_page=3")] = "",
) -> None:
    """Serve a vendor sandbox with a synthetic organisation until Ctrl-C."""
    if vendor not in SANDBOXES:
        fail(f"no sandbox for {vendor!r}: choose one of {', '.join(sorted(SANDBOXES))}")
    try:
        spec = parse_faults(faults)
    except ValueError as exc:
        fail(f"--faults: {exc}")
    app, org = SANDBOXES[vendor](users, seed, clock().now(), latency_ms, spec)
    console.print(
        f"{vendor} sandbox with {len(org.users):,} users on http://{host}:{port}\n"
        f"Profile URL: http://{host}:{port}/slm/webservice   "
        f"API key (sandbox only): {org.api_key}"
    )
    serve_forever(app, host, port)
