"""`shelfware subscriptions|candidates|entitlements|reconcile|rules ...`."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.progress import Progress
from sqlalchemy import select

from shelfware.cli import output
from shelfware.cli.context import clock, console, err_console, fail, store
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import (
    IntegrationProfile,
    ReclamationRule,
    SoftwareModel,
    Subscription,
)
from shelfware.reclamation import service as reclamation

subscriptions_app = typer.Typer(help="Accounts holding seats.", no_args_is_help=True)
candidates_app = typer.Typer(help="Removal candidates and reclaim.", no_args_is_help=True)
entitlements_app = typer.Typer(help="Seats bought.", no_args_is_help=True)
rules_app = typer.Typer(help="Reclamation rules per software model.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print a JSON array")]


@subscriptions_app.command("list")
def subscriptions_list(
    profile: Annotated[str | None, typer.Option(help="only this profile")] = None,
    all_: Annotated[bool, typer.Option("--all", help="also accounts without a seat")] = False,
    limit: Annotated[int | None, typer.Option(help="at most this many rows (table only)")] = None,
    json_: JsonFlag = False,
) -> None:
    """Accounts that currently hold a seat (all accounts with --all)."""
    query = (
        select(Subscription, IntegrationProfile.name, SoftwareModel)
        .join(IntegrationProfile, IntegrationProfile.id == Subscription.profile_id)
        .join(SoftwareModel, SoftwareModel.id == Subscription.software_model_id)
        .order_by(IntegrationProfile.name, Subscription.id)
    )
    if profile:
        query = query.where(IntegrationProfile.name == profile)
    if not all_:
        query = query.where(Subscription.active.is_(True), Subscription.gone_at.is_(None))
    with store() as st, st.db.sessions() as session:
        if profile and not session.scalar(
            select(IntegrationProfile.id).where(IntegrationProfile.name == profile)
        ):
            fail(f"no integration profile named {profile!r}")
        rows: list[dict[str, Any]] = [
            {
                "id": sub.id,
                "profile": pname,
                "external_id": sub.external_id,
                "username": sub.username,
                "email": sub.email,
                "display_name": sub.display_name,
                "software_model": model.display_name,
                "edition": sub.edition,
                "active": sub.active,
                "admin": sub.admin,
                "created_in_app_at": sub.created_in_app_at,
                "last_activity_at": sub.last_activity_at,
                "person_id": sub.person_id,
                "gone_at": sub.gone_at,
            }
            for sub, pname, model in session.execute(query)
        ]
    if json_:
        output.print_json(rows)
        return
    shown = rows[:limit] if limit else rows
    output.table(
        "Subscriptions",
        ["Profile", "User", "Email", "Model", "Admin", "Last activity", "Active"],
        [
            (
                r["profile"],
                r["username"],
                r["email"],
                r["software_model"],
                r["admin"],
                r["last_activity_at"],
                r["active"],
            )
            for r in shown
        ],
        caption=f"{len(shown)} of {len(rows)}" if limit and len(rows) > limit else None,
    )


@candidates_app.command("list")
def candidates_list(
    state: Annotated[str | None, typer.Option(help="only this state")] = None,
    profile: Annotated[str | None, typer.Option(help="only this profile")] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many rows (table only)")] = None,
    json_: JsonFlag = False,
) -> None:
    """Removal candidates, biggest saving first."""
    with store() as st, st.db.sessions() as session:
        rows = reclamation.list_candidates(session, state=state, profile=profile)
    if json_:
        output.print_json(rows)
        return
    shown = rows[:limit] if limit else rows
    caption = f"{len(shown)} of {len(rows)}" if limit and len(rows) > limit else None
    print_candidates("Removal candidates", shown, caption=caption)


def print_candidates(title: str, rows: list[dict[str, Any]], caption: str | None = None) -> None:
    output.table(
        title,
        [
            ("ID", "right"),
            "Profile",
            "User",
            "Model",
            "State",
            "Why",
            ("Idle days", "right"),
            ("Potential savings/yr", "right"),
        ],
        [
            (
                r["id"],
                r["profile"],
                r["username"],
                r["software_model"],
                r["state"],
                r["justification"],
                r["inactive_days"],
                output.money(r["potential_savings"]),
            )
            for r in rows
        ],
        caption=caption,
    )


@candidates_app.command("reclaim")
def candidates_reclaim(
    ids: Annotated[list[int] | None, typer.Argument(help="candidate ids")] = None,
    all_ready: Annotated[bool, typer.Option("--all-ready", help="every ready candidate")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="re-read only; change nothing")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Re-read each account, then reclaim it through the app's API (or cancel the candidate)."""
    if not ids and not all_ready:
        fail("name candidate ids, or use --all-ready")
    with store() as st, Progress(console=err_console, transient=True, disable=json_) as bar:
        task = bar.add_task("reclaiming" if not dry_run else "checking", total=None)
        outcomes = asyncio.run(
            reclamation.reclaim_candidates(
                st.db,
                st.keys,
                clock(),
                ids=ids,
                all_ready=all_ready,
                dry_run=dry_run,
                on_progress=lambda n: bar.advance(task, n),
            )
        )
    if json_:
        output.print_json([o.__dict__ for o in outcomes])
    else:
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.action] = counts.get(o.action, 0) + 1
        failed = [o for o in outcomes if o.action in ("failed", "unreachable")]
        if failed:
            output.table(
                "Failed",
                [("ID", "right"), "User", "Error"],
                [(o.candidate_id, o.username, o.message) for o in failed[:50]],
            )
        summary = ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in sorted(counts.items()))
        console.print(summary or "no candidate to reclaim")
        if not dry_run and counts.get("reclaimed"):
            console.print("Reclaimed seats close as complete when the next sync confirms them.")
    if any(o.action in ("failed", "unreachable", "not_attempted") for o in outcomes):
        raise typer.Exit(1)


@entitlements_app.command("add")
def entitlements_add(
    model: Annotated[str, typer.Option(help="software model: id or 'Publisher Product Edition'")],
    seats: Annotated[int, typer.Option(help="seats bought")],
    unit_cost: Annotated[str, typer.Option(help="cost per seat per billing period")],
    currency: Annotated[str, typer.Option()] = "USD",
    billing_period: Annotated[str, typer.Option(help="annual | monthly")] = "annual",
    start: Annotated[str | None, typer.Option(help="term start YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="term end YYYY-MM-DD")] = None,
    renewal: Annotated[str | None, typer.Option(help="renewal date")] = None,
    notice: Annotated[str | None, typer.Option(help="notice date")] = None,
    contract: Annotated[str | None, typer.Option(help="contract reference")] = None,
) -> None:
    """Record seats bought for a software model."""
    data = EntitlementCreate(
        model=model,
        seats=seats,
        unit_cost=Decimal(unit_cost),
        currency=currency,
        billing_period=billing_period,
        term_start=_date(start, "--start"),
        term_end=_date(end, "--end"),
        renewal_date=_date(renewal, "--renewal"),
        notice_date=_date(notice, "--notice"),
        contract_ref=contract,
    )
    with store() as st, st.db.transaction() as session:
        ent = licensing.add_entitlement(session, clock(), data)
        console.print(
            f"Entitlement {ent.id}: {ent.seats} seats at {ent.unit_cost} "
            f"{ent.currency}/{ent.billing_period}. Next: [cyan]shelfware reconcile[/]"
        )


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} {text!r} is not a date (YYYY-MM-DD)")


def reconcile(json_: JsonFlag = False) -> None:
    """Seats owned against seats used, per software model, in money (per year)."""
    with store() as st, st.db.sessions() as session:
        rows = licensing.reconcile(session, clock().now())
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    print_compliance(rows)


def print_compliance(rows: list[Any]) -> None:
    output.table(
        "License compliance",
        [
            "Software model",
            ("Owned", "right"),
            ("Used", "right"),
            ("Available", "right"),
            ("Stale", "right"),
            "Status",
            ("True-up", "right"),
            ("Over-licensed", "right"),
            ("Potential savings/yr", "right"),
        ],
        [
            (
                r.software_model,
                r.rights_owned,
                r.rights_used,
                r.rights_available,
                r.stale,
                "[green]compliant[/]" if r.status == "compliant" else "[red]under-licensed[/]",
                output.money(r.true_up_cost, r.currency),
                output.money(r.over_licensed_amount, r.currency),
                output.money(r.potential_savings, r.currency),
            )
            for r in rows
        ],
    )


@rules_app.command("list")
def rules_list(json_: JsonFlag = False) -> None:
    """Reclamation rules."""
    with store() as st, st.db.sessions() as session:
        rows = [
            {
                "id": rule.id,
                "software_model": model.display_name,
                "threshold_days": rule.threshold_days,
                "notify": rule.notify,
                "auto_reclaim_days": rule.auto_reclaim_days,
                "approval_required": rule.approval_required,
                "exclude_admins": rule.exclude_admins,
                "excluded_users": rule.excluded_users,
                "excluded_domains": rule.excluded_domains,
                "new_account_grace": rule.new_account_grace,
                "active": rule.active,
            }
            for rule, model in session.execute(
                select(ReclamationRule, SoftwareModel)
                .join(SoftwareModel, SoftwareModel.id == ReclamationRule.software_model_id)
                .order_by(ReclamationRule.id)
            )
        ]
    if json_:
        output.print_json(rows)
        return
    output.table(
        "Reclamation rules",
        ["Model", ("Threshold days", "right"), "Exclude admins", "Grace", "Active"],
        [
            (
                r["software_model"],
                r["threshold_days"],
                r["exclude_admins"],
                r["new_account_grace"],
                r["active"],
            )
            for r in rows
        ],
    )


@rules_app.command("set")
def rules_set(
    model: str,
    threshold_days: Annotated[int | None, typer.Option(min=1)] = None,
    exclude_admins: Annotated[
        bool | None, typer.Option("--exclude-admins/--include-admins")
    ] = None,
    grace: Annotated[bool | None, typer.Option("--grace/--no-grace")] = None,
    exclude_user: Annotated[list[str] | None, typer.Option(help="user name or email")] = None,
    exclude_domain: Annotated[list[str] | None, typer.Option()] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a software model's reclamation rule; applies at the next sync."""
    from shelfware.profiles.service import ensure_default_rule

    with store() as st, st.db.transaction() as session:
        found = licensing.find_model(session, model)
        rule = ensure_default_rule(session, clock(), found)
        if threshold_days is not None:
            rule.threshold_days = threshold_days
        if exclude_admins is not None:
            rule.exclude_admins = exclude_admins
        if grace is not None:
            rule.new_account_grace = grace
        if exclude_user:
            rule.excluded_users = sorted({*rule.excluded_users, *exclude_user})
        if exclude_domain:
            rule.excluded_domains = sorted({*rule.excluded_domains, *exclude_domain})
        if active is not None:
            rule.active = active
        rule.updated_at = clock().now()
        console.print(f"Rule for {found.display_name} updated; it applies at the next sync.")
