"""`shelfware users add|list|set|password` and `shelfware tokens create|list|revoke`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from shelfware.accounts import service
from shelfware.accounts.roles import Role, parse_role
from shelfware.accounts.schemas import TokenCreate, UserCreate
from shelfware.cli import output
from shelfware.cli.context import clock, console, fail, store
from shelfware.cli.subscriptions import JsonFlag

users_app = typer.Typer(help="Local accounts that sign in to the workspace.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (Authorization: Bearer).", no_args_is_help=True)

ROLES = ", ".join(r.value for r in Role)
RoleOption = Annotated[str, typer.Option("--role", help=f"one of: {ROLES}")]
PasswordEnv = Annotated[
    str | None,
    typer.Option(help="read the password from this environment variable (else prompted)"),
]


def _password(env: str | None) -> str:
    """From the named environment variable, or prompted twice without echo; never an argument."""
    if env is not None:
        value = os.environ.get(env)
        if not value:
            fail(f"--password-env {env}: the environment variable is not set or empty")
        return value
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="user name (letters, digits, . _ @ -)")],
    role: RoleOption,
    password_env: PasswordEnv = None,
) -> None:
    """Add a local user who signs in with a password."""
    data = UserCreate(username=name, role=parse_role(role), password=_password(password_env))
    with store() as st, st.db.transaction() as session:
        user = service.create_user(session, clock(), data)
    console.print(f"User {user.username} ({user.role.value}) added.")


@users_app.command("list")
def list_users(json_: JsonFlag = False) -> None:
    """Local users (never a password hash)."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_users(session)
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "Users",
        ["User", "Role", "Active", "Created", "Last sign-in"],
        [(u.username, u.role.value, u.active, u.created_at, u.last_login_at) for u in rows],
    )


@users_app.command("set")
def set_user(
    name: str,
    role: Annotated[str | None, typer.Option("--role", help=f"one of: {ROLES}")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a user's role, or turn the account off and on."""
    new_role = None if role is None else parse_role(role)
    with store() as st, st.db.transaction() as session:
        user = service.set_user(session, clock(), name, role=new_role, active=active)
    state = "active" if user.active else "inactive"
    console.print(f"User {user.username}: {user.role.value}, {state}.")


@users_app.command("password")
def password(name: str, password_env: PasswordEnv = None) -> None:
    """Set a user's password (signs the user out of existing sessions)."""
    secret = _password(password_env)
    with store() as st, st.db.transaction() as session:
        service.set_password(session, clock(), name, secret)
    console.print(f"Password of {name} changed.")


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="what the token is for (unique)")],
    role: RoleOption,
) -> None:
    """Create an API token; it is printed this once and cannot be shown again."""
    data = TokenCreate(name=name, role=parse_role(role))
    with store() as st, st.db.transaction() as session:
        plaintext, token = service.create_token(session, clock(), data)
    console.print(
        f"Token {token.name} ({token.role.value}) created. It is shown only now; keep it safe:",
        highlight=False,
    )
    print(plaintext)


@tokens_app.command("list")
def list_tokens(json_: JsonFlag = False) -> None:
    """API tokens (names and roles, never the token)."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_tokens(session)
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "API tokens",
        ["Name", "Role", "Created", "Last used", "Revoked"],
        [(t.name, t.role.value, t.created_at, t.last_used_at, t.revoked) for t in rows],
    )


@tokens_app.command("revoke")
def revoke_token(name: str) -> None:
    """Revoke an API token at once."""
    with store() as st, st.db.transaction() as session:
        service.revoke_token(session, clock(), name)
    console.print(f"Token {name} revoked.")
