"""`shelfware profile ...`: integration profile lifecycle."""

from __future__ import annotations

import asyncio
import os
import sys
import webbrowser
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, fail, store
from shelfware.connectors.custom.spec import parse_spec, read_spec_file, spec_text
from shelfware.kit.clock import utc
from shelfware.kit.redact import mask_url
from shelfware.profiles import attachments, authorization, service
from shelfware.profiles.oauth import DEFAULT_CALLBACK_PORT
from shelfware.profiles.schemas import ConnectionChange, ProfileCreate

app = typer.Typer(
    help="Integration profiles: connect an app (create, validate, publish).", no_args_is_help=True
)

AUTH_METHODS = ("api-token", "basic", "oauth")


def read_secret(env_var: str | None, what: str) -> str:
    """A secret from the named environment variable, or a no-echo prompt on a terminal."""
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            fail(f"environment variable {env_var} is not set or empty (it should hold the {what})")
        return value.strip()
    if not sys.stdin.isatty():
        fail(f"no {what} given: pass --secret-env VAR naming an environment variable")
    return str(typer.prompt(what.capitalize(), hide_input=True)).strip()


def read_spec(path: Path) -> str:
    """A custom spec file, checked before anything is stored; stored as compact JSON."""
    try:
        raw = read_spec_file(path)
    except OSError as error:
        fail(f"--spec {path}: cannot read it ({error.strerror or error})")
    return spec_text(parse_spec(raw))


def parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip(" "):
            fail(f"--option {pair!r} is not KEY=VALUE")
        options[key.strip(" ")] = value.strip(" ")  # control characters are refused, not cut
    return options


def credential(
    auth: str,
    secret_env: str | None,
    username: str | None,
    client_id: str | None,
    client_secret_env: str | None,
) -> dict[str, str]:
    """The whole credential of sign-in method ``auth``, its secrets read from the environment
    (or a no-echo prompt on a terminal)."""
    if auth not in AUTH_METHODS:
        fail(f"--auth {auth!r} is not one of {', '.join(AUTH_METHODS)}")
    secrets: dict[str, str] = {}
    if auth == "oauth":
        if not client_id or not client_secret_env:
            fail(
                "--auth oauth needs the OAuth app's --client-id and --client-secret-env VAR; "
                "then run `shelfware profile authorize NAME`"
            )
    elif auth == "api-token":
        secrets["api_key"] = read_secret(secret_env, "API token")
    else:
        if not username:
            fail("--auth basic needs --username")
        secrets["password"] = read_secret(secret_env, "password")
    if client_id:
        secrets["client_id"] = client_id
    if client_secret_env:
        secrets["client_secret"] = read_secret(client_secret_env, "client secret")
    return secrets


@app.command("create")
def create(
    kind: Annotated[str, typer.Argument(help="connector kind, see `shelfware connectors`")],
    name: Annotated[str, typer.Option("--name", help="display name, unique")],
    url: Annotated[str | None, typer.Option(help="connection URL (https://)")] = None,
    region: Annotated[str | None, typer.Option(help="region, for apps that have them")] = None,
    auth: Annotated[str, typer.Option(help="api-token | basic | oauth")] = "api-token",
    secret_env: Annotated[
        str | None, typer.Option("--secret-env", help="env var holding the API token/password")
    ] = None,
    username: Annotated[str | None, typer.Option(help="user name for basic auth")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    client_secret_env: Annotated[str | None, typer.Option("--client-secret-env")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="KEY=VALUE")] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="custom profile: the spec file (YAML or JSON)")
    ] = None,
    activity: Annotated[bool, typer.Option("--activity/--no-activity")] = True,
    reclaim: Annotated[bool, typer.Option("--reclaim/--no-reclaim")] = True,
) -> None:
    """Create a draft profile; the credential is encrypted before it is stored."""
    secrets = credential(auth, secret_env, username, client_id, client_secret_env)
    options = parse_options(option or [])
    spec_text_ = read_spec(spec) if spec is not None else None
    if spec is None and kind == "custom":
        fail("a custom profile needs --spec FILE (see `shelfware connectors schema custom`)")
    data = ProfileCreate(
        kind=kind,
        name=name,
        url=url,
        region=region,
        auth=auth,
        username=username,
        secrets=secrets,
        options=options,
        spec=spec_text_,
        activity=activity,
        reclaim=reclaim,
    )
    with store() as st, st.db.transaction() as session:
        profile = service.create_profile(session, st.keys, clock(), data)
        step = "authorize" if auth == "oauth" else "validate"
        shown = mask_url(profile.url)
        console.print(
            f"Created draft profile [bold]{profile.name}[/] ({profile.kind}) for {shown}.\n"
            f"Next: [cyan]shelfware profile {step} {profile.name}[/]"
        )


@app.command("attach")
def attach(
    name: str,
    file: Annotated[Path, typer.Argument(help="the app's user report, e.g. Roadmunk's users CSV")],
) -> None:
    """Attach the app's latest user report: only users it lists as active then hold seats."""
    try:
        data = file.read_bytes()
    except OSError as error:
        fail(f"{file}: cannot read it ({error.strerror or error})")
    with store() as st, st.db.transaction() as session:
        summary = attachments.attach_user_report(
            session, clock(), service.get_profile(session, name), data, file.name
        )
    console.print(
        f"Attached {file.name}: {summary['rows']} users listed, {summary['active']} active. "
        f"It applies from the next sync: [cyan]shelfware sync {name}[/]"
    )


@app.command("authorize")
def authorize(
    name: str,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="loopback port of the redirect URI")
    ] = DEFAULT_CALLBACK_PORT,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="open a browser")] = True,
    timeout: Annotated[float, typer.Option(min=5, max=3600, help="seconds to wait")] = 300,
) -> None:
    """Get OAuth tokens through the app's consent page (authorization code with PKCE)."""

    def show(url: str) -> None:
        console.print(
            f"Open this address, sign in to the app and approve access:\n  {url}\n"
            f"(the app redirects to http://127.0.0.1:{port}/oauth/callback; register that "
            "redirect URI in the OAuth app)"
        )
        if browser:
            webbrowser.open(url)

    with store() as st:
        asyncio.run(
            authorization.authorize_profile(
                st.db, st.keys, clock(), name, show_url=show, port=port, timeout=timeout
            )
        )
    console.print(
        f"Authorized: tokens stored encrypted. Next: [cyan]shelfware profile validate {name}[/]"
    )


@app.command("list")
def list_(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List profiles."""
    with store() as st, st.db.sessions() as session:
        views = [service.view(session, p) for p in service.list_profiles(session)]
    if json_:
        output.print_json([v.model_dump(mode="json") for v in views])
        return
    output.table(
        "Integration profiles",
        ["Name", "Kind", "Status", "URL", "Activity", "Reclaim", "Last sync"],
        [
            (
                v.name,
                v.kind,
                v.status,
                v.url,
                v.processes.activity,
                v.processes.reclaim,
                f"{v.last_sync.status} {output.fmt(v.last_sync.finished_at)}"
                if v.last_sync
                else "—",
            )
            for v in views
        ],
    )


@app.command("show")
def show(name: str, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one profile (never its secrets)."""
    with store() as st, st.db.sessions() as session:
        v = service.view(session, service.get_profile(session, name))
    if json_:
        output.print_json(v.model_dump(mode="json"))
        return
    rows = [
        ("Kind", v.kind),
        ("Status", v.status),
        ("URL", v.url),
        ("Region", v.region),
        ("Auth", v.auth),
        (
            "Credential",
            "[red]re-authorize[/]: the app refused the OAuth refresh token; run "
            f"[cyan]shelfware profile authorize {v.name}[/]"
            if (v.last_validation or {}).get("reauthorize")
            else "stored, encrypted"
            if v.has_credential
            else "missing",
        ),
        ("Credential belongs to", v.credential_owner),
        ("Download subscriptions", "on (always)"),
        ("Pull user activity", "on" if v.processes.activity else "off"),
        ("Reclaim subscriptions", "on" if v.processes.reclaim else "off"),
        ("Analyze activity from", output.fmt(v.analyze_activity_from)),
        (
            "Last validated",
            f"{output.fmt(v.last_validated_at)} ({_outcome(v.last_validation_ok)})",
        ),
        (
            "Last sync",
            f"{v.last_sync.status} at {output.fmt(v.last_sync.finished_at)}, "
            f"{v.last_sync.accounts} accounts"
            + (f": {v.last_sync.error}" if v.last_sync.error else "")
            if v.last_sync
            else "never",
        ),
        ("Next refresh", output.fmt(v.next_refresh_at)),
    ]
    output.table(f"Profile {v.name}", ["", ""], rows)


def _outcome(ok: bool | None) -> str:
    return "—" if ok is None else "passed" if ok else "failed"


@app.command("validate")
def validate(name: str, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Call the read APIs with the stored credential and report what works (never reclaims)."""
    with store() as st:
        report = asyncio.run(service.validate_profile(st.db, st.keys, clock(), name))
    if json_:
        output.print_json(
            {
                "ok": report.ok,
                "checks": [c.__dict__ for c in report.checks],
                "facts": dict(report.facts),
            }
        )
    else:
        output.table(
            f"Validation of {name}",
            ["Check", "Result", "Detail"],
            [
                (c.name, "[green]ok[/]" if c.ok else "[red]failed[/]", c.detail)
                for c in report.checks
            ],
        )
        for key, title in (("accounts_sample", "Accounts"), ("activity_sample", "Activity")):
            sample = report.facts.get(key)
            if sample:  # custom profiles: the first records as the spec maps them
                columns = list(sample[0])
                output.table(
                    f"{title}: the first records as mapped",
                    columns,
                    [tuple(row.get(c) for c in columns) for row in sample],
                )
        if report.ok:
            console.print(f"Validation passed. Next: [cyan]shelfware profile publish {name}[/]")
        else:
            console.print(
                "[red]Validation failed.[/] Fix the connection or credential, then "
                f"run [cyan]shelfware profile validate {name}[/] again."
            )
    if not report.ok:
        raise typer.Exit(1)


@app.command("publish")
def publish(name: str) -> None:
    """Publish: creates software models and default rules, schedules the daily refresh."""
    with store() as st, st.db.transaction() as session:
        service.publish_profile(session, clock(), service.get_profile(session, name))
    console.print(f"Published [bold]{name}[/]. Next: [cyan]shelfware sync {name}[/]")


@app.command("connect")
def connect(
    name: str,
    url: Annotated[
        str | None, typer.Option(help="connection URL (https://); empty: the app's default")
    ] = None,
    region: Annotated[str | None, typer.Option(help="region, for apps that have them")] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            help="another sign-in method (api-token | basic | oauth): its whole credential"
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", help="env var holding the new API token/password"),
    ] = None,
    username: Annotated[str | None, typer.Option(help="user name for basic auth")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    client_secret_env: Annotated[str | None, typer.Option("--client-secret-env")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="KEY=VALUE; replaces the options")
    ] = None,
    clear_options: Annotated[
        bool, typer.Option("--clear-options", help="remove every option")
    ] = False,
) -> None:
    """Change a profile's connection: URL, region, user name, credential, options or sign-in
    method. What is not given stays; the profile must be validated again."""
    if option and clear_options:
        fail("--option and --clear-options contradict each other: give one")
    with store() as st:
        with st.db.sessions() as session:
            current = service.get_profile(session, name).auth
        method = auth or current
        if method != current:
            secrets = credential(method, secret_env, username, client_id, client_secret_env)
        else:
            secrets = {}
            if secret_env:
                key = {"api-token": "api_key", "basic": "password"}.get(method)
                if key is None:
                    fail(
                        f"{name} signs in with {method}: give --client-secret-env, not --secret-env"
                    )
                secrets[key] = read_secret(
                    secret_env, "API token" if key == "api_key" else "password"
                )
            if client_id:
                secrets["client_id"] = client_id
            if client_secret_env:
                secrets["client_secret"] = read_secret(client_secret_env, "client secret")
        change = ConnectionChange(
            url=url,
            region=region,
            username=username,
            secrets=secrets,
            options={} if clear_options else (parse_options(option) if option else None),
            auth=auth,
        )
        with st.db.transaction() as session:
            profile = service.get_profile(session, name)
            changes = service.change_connection(session, st.keys, clock(), profile, change)
            signs_in = profile.auth
    if not changes:
        console.print("Nothing changed.")
        return
    step = "authorize" if signs_in == "oauth" and method != current else "validate"
    console.print("Changed: " + "; ".join(changes) + ".")
    console.print(
        f"Next: [cyan]shelfware profile {step} {name}[/] (a change needs a fresh validation)"
    )


@app.command("set")
def set_(
    name: str,
    activity: Annotated[bool | None, typer.Option("--activity/--no-activity")] = None,
    reclaim: Annotated[bool | None, typer.Option("--reclaim/--no-reclaim")] = None,
    analyze_from: Annotated[
        datetime | None, typer.Option("--analyze-from", help="YYYY-MM-DD")
    ] = None,
) -> None:
    """Turn processes on or off, or move the activity look-back date."""
    with store() as st, st.db.transaction() as session:
        changes = service.set_processes(
            session,
            clock(),
            service.get_profile(session, name),
            activity=activity,
            reclaim=reclaim,
            analyze_from=utc(analyze_from) if analyze_from else None,
        )
    console.print("; ".join(changes) if changes else "nothing changed")


@app.command("delete")
def delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False
) -> None:
    """Delete a profile with its subscriptions, candidates and runs."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete profile {name!r} and everything downloaded for it?", abort=True)
    with store() as st, st.db.transaction() as session:
        service.delete_profile(session, clock(), service.get_profile(session, name))
    console.print(f"Deleted profile {name}.")
