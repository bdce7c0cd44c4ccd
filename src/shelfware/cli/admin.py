"""`shelfware init`, `keys rotate`, `connectors`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, settings
from shelfware.connectors.custom.spec import spec_json_schema
from shelfware.connectors.registry import connector_class, connector_kinds
from shelfware.kit.crypto import write_key_file
from shelfware.profiles.service import rotate_keys
from shelfware.store import init_store, open_store

keys_app = typer.Typer(help="The key ring that encrypts stored credentials.", no_args_is_help=True)


def init() -> None:
    """Create or upgrade the database and create the key ring if there is none."""
    conf = settings()
    store = init_store(conf)
    shown = store.db.engine.url.render_as_string(hide_password=True)
    store.db.dispose()
    console.print(f"Database ready: {shown}")
    console.print(
        "Key ring: SHELFWARE_SECRET_KEYS" if conf.secret_keys else f"Key ring: {conf.key_file}"
    )


@keys_app.command("rotate")
def rotate() -> None:
    """Add a new key and re-encrypt every stored secret with it."""
    conf = settings()
    store = open_store(conf)
    try:
        if conf.secret_keys is not None:
            console.print(
                "The key ring comes from SHELFWARE_SECRET_KEYS: prepend a new key there "
                "(`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`), keep the old ones, then run this again."
            )
            ring = store.keys
        else:
            # The new ring keeps every old key, so it is written first: if the re-encryption
            # fails, the old secrets still decrypt; if writing fails, nothing was re-encrypted.
            ring = store.keys.with_new_key()
            write_key_file(conf.key_file, ring)
        with store.db.transaction() as session:
            done = rotate_keys(session, clock(), ring)
    finally:
        store.db.dispose()
    console.print(
        f"Re-encrypted {done.credentials} credential(s) with the newest key "
        f"({done.keys} key(s) in the ring)."
    )


schema_app = typer.Typer(help="Published JSON Schemas.", no_args_is_help=True)


@schema_app.command("custom")
def schema_custom() -> None:
    """The JSON Schema of custom integration specs (`profile create custom --spec FILE`)."""
    output.print_json(spec_json_schema())


def connectors_overview(
    ctx: typer.Context, json_: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Connector kinds, their capabilities and least-privilege table."""
    if ctx.invoked_subcommand is None:
        connectors(json_)


def connectors(json_: bool = False) -> None:
    """Connector kinds, their capabilities and least-privilege table."""
    rows: list[dict[str, Any]] = []
    for kind in connector_kinds():
        cls = connector_class(kind)
        caps = cls.capabilities
        rows.append(
            {
                "kind": kind,
                "publisher": cls.publisher,
                "product": cls.product,
                "download": caps.download,
                "activity": caps.activity,
                "reclaim": caps.reclaim,
                "activity_source": str(caps.activity_source),
                "default_url": cls.default_url,
                "permissions": [
                    {"process": str(p.process), "role": p.role, "scopes": list(p.scopes)}
                    for p in cls.permissions
                ],
            }
        )
    if json_:
        output.print_json(rows)
        return
    output.table(
        "Connectors",
        ["Kind", "App", "Download", "Activity", "Reclaim", "Activity from"],
        [
            (
                r["kind"],
                f"{r['publisher']} {r['product']}",
                r["download"],
                r["activity"],
                r["reclaim"],
                r["activity_source"],
            )
            for r in rows
        ],
    )
    output.table(
        "Least privilege",
        ["Kind", "Process", "Role in the app", "Scopes"],
        [
            (r["kind"], p["process"], p["role"], ", ".join(p["scopes"]) or "none")
            for r in rows
            for p in r["permissions"]
        ],
    )
