"""`shelfware sandbox VENDOR`: a local emulator of a vendor's admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field
from rich.markup import escape

import shelfware.sandbox as sandboxes
from shelfware.cli.context import clock, console, fail, settings
from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from shelfware.ranges import MAX_ID, MAX_ROWS, Name, Port
from shelfware.sandbox.faults import parse_faults
from shelfware.sandbox.server import serve_forever


class SandboxOptions(BaseModel):
    """Ranges: port 1..65535; users 1..1,000,000; seed 0..2^63-1; latency 0..60,000 ms."""

    model_config = ConfigDict(extra="forbid")

    host: Name
    port: Port
    users: int = Field(ge=1, le=MAX_ROWS)
    seed: int = Field(ge=0, le=MAX_ID)
    latency_ms: float = Field(ge=0, le=60_000, allow_inf_nan=False)


def write_private_file(path: Path, text: str) -> None:
    """Write `text` readable by its owner only (0600, whatever the umask; its directory 0700
    when this creates it), replacing the file atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def sandbox(
    vendor: Annotated[str, typer.Argument(help="which vendor, e.g. rally")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="1..65535")] = 8081,
    users: Annotated[int, typer.Option(help="1..1,000,000")] = 2000,
    seed: Annotated[int, typer.Option(help="0..2^63-1")] = 1,
    latency_ms: Annotated[float, typer.Option(help="0..60,000")] = 0,
    faults: Annotated[str, typer.Option(help="e.g. error_rate=0.05,fail_page=3")] = "",
) -> None:
    """Serve a vendor sandbox with a synthetic organisation until Ctrl-C."""
    if vendor not in sandboxes.SANDBOXES:
        fail(f"no sandbox for {vendor!r}: choose one of {', '.join(sorted(sandboxes.SANDBOXES))}")
    try:
        spec = parse_faults(faults)
    except ValueError as exc:
        fail(f"--faults: {exc}")
    opts = SandboxOptions(host=host, port=port, users=users, seed=seed, latency_ms=latency_ms)
    app, org = sandboxes.SANDBOXES[vendor](
        opts.users, opts.seed, clock().now(), opts.latency_ms, spec
    )
    base = f"http://{opts.host}:{opts.port}"
    path = getattr(sandboxes, "PROFILE_PATHS", {}).get(vendor, "")
    file_name = getattr(org, "secret_file_name", None)
    if file_name:  # a key file (Google's, with its private key): to a 0600 file, not the console
        where = settings().home / "sandbox" / f"{opts.port}-{file_name}"
        write_private_file(where, org.api_key)
        credential = (
            f"Secret (sandbox only): the key file written to {where} (mode 0600), e.g. "
            f'export KEY="$(cat {where})"'
        )
    else:
        credential = f"API key (sandbox only): {org.api_key}"
    console.print(
        escape(
            f"{vendor} sandbox with {len(org.users):,} users on {base}\n"
            f"Profile URL: {base}{path}   {credential}\n"
            f"A loopback or private address: create the profile with {ALLOW_PRIVATE_ENV}=true"
        )
    )
    hint = getattr(org, "profile_hint", "")
    if hint:  # what else a profile needs (Microsoft 365's tenant, Google's admin, ...)
        console.print(escape(hint.replace("{server}", base)))
    os.environ[ALLOW_PRIVATE_ENV] = "true"  # this process may call its own sandbox
    serve_forever(app, opts.host, opts.port)
