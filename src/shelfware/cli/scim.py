"""`shelfware scim tokens create|list|revoke`: the tokens identity providers (Okta, Entra ID)
use to provision shelfware's users over SCIM at /scim/v2. A SCIM provisioning token reaches
/scim/v2 and nothing else; an API token never reaches /scim/v2."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.accounts import service
from shelfware.accounts.schemas import TokenKind
from shelfware.cli import output
from shelfware.cli.context import clock, console, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.cli.users import parse_days

scim_app = typer.Typer(
    help="SCIM provisioning of shelfware's users by an identity provider (/scim/v2).",
    no_args_is_help=True,
)
tokens_app = typer.Typer(
    help="SCIM provisioning tokens (they reach /scim/v2 only).", no_args_is_help=True
)
scim_app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="which identity provider uses it (unique)")],
    expires_in: Annotated[
        str,
        typer.Option(
            "--expires-in",
            help=f"lifetime, e.g. 365d or 52w (default {service.SCIM_TOKEN_DAYS}d)",
        ),
    ] = f"{service.SCIM_TOKEN_DAYS}d",
) -> None:
    """Create a SCIM provisioning token; it is printed this once and cannot be shown again."""
    days = parse_days(expires_in)
    with store() as st, st.db.transaction() as session:
        plaintext, token = service.create_scim_token(session, clock(), name, expires_in_days=days)
    console.print(
        f"SCIM provisioning token {token.name} (expires {token.expires_at:%Y-%m-%d %H:%M} UTC) "
        "created. Paste it as the bearer token of your identity provider's provisioning, with "
        "the SCIM URL https://YOUR-SHELFWARE/scim/v2. It is shown only now; keep it safe:",
        highlight=False,
        markup=False,
    )
    print(plaintext)


@tokens_app.command("list")
def list_tokens(json_: JsonFlag = False) -> None:
    """SCIM provisioning tokens: name, expiry and last use (never the token)."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_tokens(session, TokenKind.SCIM)
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "SCIM provisioning tokens",
        ["Name", "Created", "Expires", "Last used", "Revoked"],
        [(t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked) for t in rows],
    )


@tokens_app.command("revoke")
def revoke_token(name: str) -> None:
    """Revoke a SCIM provisioning token at once (provisioning with it stops)."""
    with store() as st, st.db.transaction() as session:
        service.revoke_token(session, clock(), name, kind=TokenKind.SCIM)
    console.print(f"SCIM provisioning token {name} revoked.")
