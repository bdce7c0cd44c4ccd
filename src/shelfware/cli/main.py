"""The `shelfware` command."""

from __future__ import annotations

import logging
import os
import sys

import typer

from shelfware.cli import (
    admin,
    audit,
    calendar,
    candidates,
    demo,
    directory,
    entitlements,
    jobs,
    profile,
    reconcile,
    report,
    reviews,
    rules,
    sandbox,
    scim,
    serve,
    subscriptions,
    sync,
    users,
)
from shelfware.cli.context import run
from shelfware.kit.redact import SecretFilter, install_secret_filter

app = typer.Typer(
    name="shelfware",
    help="Find the SaaS seats nobody uses, reclaim them, reconcile owned against used.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("init")(admin.init)
app.command("demo")(demo.demo)
app.command("sandbox")(sandbox.sandbox)
connectors_app = typer.Typer(
    help="Connector kinds (run with no sub-command for the table).",
    invoke_without_command=True,
)
connectors_app.callback(invoke_without_command=True)(admin.connectors_overview)
connectors_app.add_typer(admin.schema_app, name="schema")
app.add_typer(connectors_app, name="connectors")
app.command("sync")(sync.sync)
app.command("reconcile")(reconcile.reconcile)
app.add_typer(admin.keys_app, name="keys")
app.add_typer(profile.app, name="profile")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(candidates.app, name="candidates")
app.add_typer(entitlements.app, name="entitlements")
app.add_typer(rules.app, name="rules")
app.add_typer(directory.app, name="directory")
app.add_typer(directory.people_app, name="people")
app.add_typer(report.app, name="report")
app.add_typer(calendar.app, name="calendar")
app.add_typer(reviews.app, name="reviews")
app.command("serve")(serve.serve)
app.command("worker")(jobs.worker)
app.add_typer(jobs.app, name="jobs")
app.add_typer(users.users_app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.add_typer(scim.scim_app, name="scim")
app.add_typer(audit.app, name="audit")


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("SHELFWARE_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretFilter())  # every decrypted secret is registered before use
    install_secret_filter()
    sys.exit(run(app))


if __name__ == "__main__":
    main()
