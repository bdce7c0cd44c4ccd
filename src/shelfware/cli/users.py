"""`shelfware users add|list|set|password|sessions|sign-out` and `shelfware tokens
create|list|revoke`.

A token's owner is a user (``--owner``): it dies with their deactivation. A token without one
was created by the local operator (and tokens from before owners existed)."""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer

from shelfware.accounts import service, sessions
from shelfware.accounts.roles import Role, parse_role
from shelfware.accounts.schemas import (
    MAX_TOKEN_DAYS,
    TOKEN_DAYS,
    TokenCreate,
    TokenKind,
    UserCreate,
    UserView,
)
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


def _signs_in_with(user: UserView) -> str:
    way = "single sign-on" if user.sso_subject or user.provisioned else "password"
    return f"{way} (provisioned by SCIM)" if user.provisioned else way


@users_app.command("list")
def list_users(json_: JsonFlag = False) -> None:
    """Users, local and single sign-on (never a password hash)."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_users(session)
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "Users",
        ["User", "Role", "Active", "Signs in with", "Created", "Last sign-in"],
        [
            (
                u.username,
                u.role.value,
                u.active,
                _signs_in_with(u),
                u.created_at,
                u.last_login_at,
            )
            for u in rows
        ],
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


DURATION = re.compile(r"^\s*(\d{1,5})\s*([dw]?)\s*$")


def parse_days(text: str) -> int:
    """``30d``, ``12w`` or ``30`` (days) as a number of days."""
    found = DURATION.match(text)
    if found is None:
        raise ValueError(f"--expires-in {text!r}: give days or weeks, e.g. 30d or 12w")
    days = int(found.group(1)) * (7 if found.group(2) == "w" else 1)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"--expires-in {text!r}: between 1 and {MAX_TOKEN_DAYS} days")
    return days


@users_app.command("sessions")
def list_sessions(
    name: Annotated[str | None, typer.Argument(help="only this user's")] = None,
    json_: JsonFlag = False,
) -> None:
    """Open workspace sessions: since when, last seen, from where (never the token)."""
    with store() as st, st.db.sessions() as session:
        rows = sessions.list_sessions(session, clock(), name)
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "Open sessions",
        ["User", "Signed in", "Last seen", "Expires", "Address", "Browser"],
        [
            (s.username, s.created_at, s.last_seen_at, s.expires_at, s.address, s.user_agent)
            for s in rows
        ],
    )


@users_app.command("sign-out")
def sign_out(name: str) -> None:
    """End every open session of a user, in every process (their API tokens stay)."""
    with store() as st, st.db.transaction() as session:
        ended = sessions.end_sessions(session, clock(), name)
    console.print(f"{ended} session(s) of {name} ended.", markup=False, highlight=False)


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="what the token is for (unique)")],
    role: RoleOption,
    owner: Annotated[
        str | None,
        typer.Option(
            help="the user the token acts for: it dies with their deactivation and holds no "
            "more rights than they do (default: none, the local operator's)"
        ),
    ] = None,
    expires_in: Annotated[
        str, typer.Option("--expires-in", help=f"lifetime, e.g. 30d or 12w (default {TOKEN_DAYS}d)")
    ] = f"{TOKEN_DAYS}d",
) -> None:
    """Create an API token; it is printed this once and cannot be shown again."""
    data = TokenCreate(
        name=name, role=parse_role(role), owner=owner, expires_in_days=parse_days(expires_in)
    )
    with store() as st, st.db.transaction() as session:
        plaintext, token = service.create_token(session, clock(), data)
    whose = f"owned by {token.owner}" if token.owner else "no owner"
    console.print(
        f"Token {token.name} ({token.role.value}, {whose}, expires "
        f"{token.expires_at:%Y-%m-%d %H:%M} UTC) created. It is shown only now; keep it safe:",
        highlight=False,
        markup=False,
    )
    print(plaintext)


@tokens_app.command("list")
def list_tokens(json_: JsonFlag = False) -> None:
    """API tokens: name, role, owner, expiry and last use (never the token)."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_tokens(session, TokenKind.API)  # SCIM's: `shelfware scim tokens`
    if json_:
        output.print_json([r.model_dump(mode="json") for r in rows])
        return
    output.table(
        "API tokens",
        ["Name", "Role", "Owner", "Created", "Expires", "Last used", "Revoked"],
        [
            (
                t.name,
                t.role.value,
                t.owner or "(local operator)",
                t.created_at,
                t.expires_at,
                t.last_used_at,
                t.revoked,
            )
            for t in rows
        ],
    )


@tokens_app.command("revoke")
def revoke_token(name: str) -> None:
    """Revoke an API token at once."""
    with store() as st, st.db.transaction() as session:
        service.revoke_token(session, clock(), name)
    console.print(f"Token {name} revoked.")
