"""`shelfware rules list|set|dry-run`."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, store
from shelfware.cli.subscriptions import JsonFlag
from shelfware.reclamation import keeps, rules
from shelfware.reclamation.schemas import RuleChange, RuleView

app = typer.Typer(help="Reclamation rules per software model.", no_args_is_help=True)


@app.command("list")
def list_(json_: JsonFlag = False) -> None:
    """Reclamation rules."""
    with store() as st, st.db.sessions() as session:
        rows = rules.list_rules(session)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    output.table(
        "Reclamation rules",
        [
            "Model",
            "Kind",
            ("Threshold days", "right"),
            "Notify",
            ("Reclaim after days", "right"),
            "Approval",
            "Exclusions",
            "Grace",
            ("Keep days", "right"),
            "Active",
        ],
        [
            (
                r.software_model,
                _kind(r),
                r.threshold_days if r.kind == "remove" else "",
                r.notify,
                r.auto_reclaim_days,
                r.approval_required,
                _exclusions(r),
                r.new_account_grace,
                r.keep_days,
                r.active,
            )
            for r in rows
        ],
    )


def _kind(rule: RuleView) -> str:
    if rule.kind != "downgrade":
        return rule.kind
    light = [
        f"< {n} {what}"
        for n, what in ((rule.max_active_days, "active days"), (rule.max_events, "events"))
        if n
    ]
    return (
        f"downgrade to {rule.target_model or '?'}: {' and '.join(light) or '?'} "
        f"in {rule.window_days or '?'} days"
    )


def _exclusions(rule: RuleView) -> str:
    parts = ["admins"] if rule.exclude_admins else []
    for label, values in (
        ("patterns", rule.service_account_patterns),
        ("users", rule.excluded_users),
        ("domains", rule.excluded_domains),
        ("groups", rule.excluded_groups),
    ):
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    return "; ".join(parts) or "none"


Kind = Annotated[
    str,
    typer.Option(
        "--kind", help="remove (idle seats) or downgrade (light users to a cheaper edition)"
    ),
]


@app.command("dry-run")
def dry_run(
    model: Annotated[str, typer.Argument(help="software model: id or 'Publisher Product Edition'")],
    kind: Kind = "remove",
    json_: JsonFlag = False,
) -> None:
    """The accounts the model's rule selects right now; changes nothing."""
    if kind == "downgrade":
        _downgrade_dry_run(model, json_)
        return
    if kind != "remove":
        raise typer.BadParameter("use remove or downgrade", param_hint="--kind")
    with store() as st, st.db.sessions() as session:
        rows = rules.dry_run(session, clock(), model)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    selected = sum(1 for r in rows if r.selected)
    kept = len(rows) - selected
    output.table(
        f"Selected now by the rule of {model}",
        ["Profile", "User", "Email", "Why", ("Idle days", "right"), "Open candidate", "Selected"],
        [
            (
                r.profile,
                r.username,
                r.email,
                r.justification,
                r.inactive_days,
                r.open_candidate,
                "yes" if r.kept_until is None else f"no: {keeps.kept_note(r.kept_until)}",
            )
            for r in rows
        ],
        caption=f"{selected} accounts selected"
        + (f"; {kept} kept by their user or an approver, not selected" if kept else ""),
    )


def _downgrade_dry_run(model: str, json_: bool) -> None:
    with store() as st, st.db.sessions() as session:
        found = rules.downgrade_dry_run(session, clock(), model)
    if json_:
        output.print_json(found.model_dump())
        return
    rows = found.selections
    selected = sum(1 for r in rows if r.selected)
    output.table(
        f"Light users of {found.software_model}: move to {found.target_model}",
        [
            "Profile",
            "User",
            "Email",
            (f"Active days ({found.window_days} d)", "right"),
            ("Events", "right"),
            "Open candidate",
            "Selected",
        ],
        [
            (
                r.profile,
                r.username,
                r.email,
                r.active_days,
                r.events,
                r.open_candidate,
                "yes" if r.kept_until is None else f"no: {keeps.kept_note(r.kept_until)}",
            )
            for r in rows
        ],
        caption=f"{selected} accounts selected, saving "
        f"{output.money(found.annual_saving_per_seat)} a year each; "
        f"{found.no_activity_data} skipped: no activity-intensity data (no event-based "
        f"activity covering the last {found.window_days} days); "
        f"{found.idle} idle in the window (for the removal rule)",
    )


@app.command("set")
def set_(
    model: Annotated[str, typer.Argument(help="software model: id or 'Publisher Product Edition'")],
    threshold_days: Annotated[
        int | None, typer.Option(help="idle days before a seat is a candidate, 1..3650")
    ] = None,
    notify: Annotated[bool | None, typer.Option("--notify/--no-notify")] = None,
    auto_reclaim_days: Annotated[
        int | None, typer.Option(help="days after notice before reclaim, 0..3650")
    ] = None,
    approval: Annotated[bool | None, typer.Option("--approval/--no-approval")] = None,
    exclude_admins: Annotated[
        bool | None, typer.Option("--exclude-admins/--include-admins")
    ] = None,
    grace: Annotated[bool | None, typer.Option("--grace/--no-grace")] = None,
    exclude_user: Annotated[list[str] | None, typer.Option(help="user name or email")] = None,
    exclude_domain: Annotated[list[str] | None, typer.Option()] = None,
    include_user: Annotated[
        list[str] | None, typer.Option(help="take out of the excluded users")
    ] = None,
    include_domain: Annotated[
        list[str] | None, typer.Option(help="take out of the excluded domains")
    ] = None,
    exclude_group: Annotated[
        list[str] | None, typer.Option(help="identity-provider group whose members are excluded")
    ] = None,
    include_group: Annotated[list[str] | None, typer.Option()] = None,
    exclude_pattern: Annotated[
        list[str] | None,
        typer.Option(help="service accounts: glob on user name or email, e.g. 'svc-*'"),
    ] = None,
    include_pattern: Annotated[list[str] | None, typer.Option()] = None,
    approver: Annotated[
        list[str] | None, typer.Option(help="email deciding a 'keep' when there is no manager")
    ] = None,
    remove_approver: Annotated[list[str] | None, typer.Option()] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    keep_days: Annotated[
        int | None,
        typer.Option(help="days a seat its user or an approver kept is no candidate, 1..3650"),
    ] = None,
    kind: Kind = "remove",
    to_model: Annotated[
        str | None,
        typer.Option(help="downgrade: the cheaper edition (software model) to move light users to"),
    ] = None,
    max_active_days: Annotated[
        int | None,
        typer.Option(help="downgrade: light means fewer than N days with activity in the window"),
    ] = None,
    max_events: Annotated[
        int | None,
        typer.Option(help="downgrade: light means fewer than N activity events in the window"),
    ] = None,
    window_days: Annotated[
        int | None, typer.Option(help="downgrade: the window, in days (1..3650)")
    ] = None,
) -> None:
    """Change a software model's reclamation rule (--kind downgrade: its downgrade rule);
    applies at the next sync."""
    change = RuleChange(
        model=model,
        kind=kind,  # type: ignore[arg-type]  # checked by RuleChange
        to_model=to_model,
        max_active_days=max_active_days,
        max_events=max_events,
        window_days=window_days,
        threshold_days=threshold_days,
        notify=notify,
        auto_reclaim_days=auto_reclaim_days,
        approval_required=approval,
        exclude_admins=exclude_admins,
        new_account_grace=grace,
        active=active,
        keep_days=keep_days,
        exclude_users=exclude_user or [],
        exclude_domains=exclude_domain or [],
        include_users=include_user or [],
        include_domains=include_domain or [],
        exclude_groups=exclude_group or [],
        include_groups=include_group or [],
        exclude_patterns=exclude_pattern or [],
        include_patterns=include_pattern or [],
        add_approvers=approver or [],
        remove_approvers=remove_approver or [],
    )
    with store() as st, st.db.transaction() as session:
        rule, changes = rules.set_rule(session, clock(), change)
    what = "Downgrade rule" if rule.kind == "downgrade" else "Rule"
    if not changes:
        console.print(output.literal(f"{what} for {rule.software_model}: nothing changed."))
        return
    said = "; ".join(
        f"{name.replace('_', ' ')} {old} -> {new}" for name, (old, new) in changes.items()
    )
    console.print(
        output.literal(
            f"{what} for {rule.software_model} updated ({said}); applies at the next sync."
        )
    )
