"""`shelfware directory ...` (resolution rules, same-app links, people per model) and
`shelfware people ...` (one person, unmatched accounts, leavers holding seats)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from shelfware.cli import output
from shelfware.cli.context import clock, console, store
from shelfware.directory import service
from shelfware.kit.streaming import paged

PAGE = 1000  # rows a read session of a streamed listing holds

app = typer.Typer(
    help="People across apps: resolution rules and same-app links.", no_args_is_help=True
)
alias_app = typer.Typer(
    help="Domain aliases: emails at ALIAS are the people at DOMAIN.", no_args_is_help=True
)
app.add_typer(alias_app, name="alias")
people_app = typer.Typer(
    help="People: one person, unmatched accounts, leavers holding seats.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="print a JSON array")]


@people_app.command("show")
def show(
    email: Annotated[str, typer.Argument(help="the person's email (any case, any alias domain)")],
    json_: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """One person: identity-provider status, manager, groups and the seats they hold."""
    with store() as st, st.db.sessions() as session:
        person = service.person_detail(session, email)
    if json_:
        output.print_json(person.model_dump())
        return
    manager = person.manager or (
        f"{person.manager_reference} (not resolved: unknown, or left)"
        if person.manager_reference
        else "—"
    )
    output.table(
        person.email,
        ["Field", "Value"],
        [
            ("Name", person.display_name or "—"),
            ("Status", person.status or "not listed by an identity provider"),
            ("Login", person.login or "—"),
            ("Manager", manager),
            ("Groups", ", ".join(person.groups) or "—"),
            ("Department", _charged(person.department, person.department_override)),
            ("Department (IdP)", person.department_from_idp or "—"),
            ("Cost centre", _charged(person.cost_center, person.cost_center_override)),
            ("Cost centre (IdP)", person.cost_center_from_idp or "—"),
            ("Seats", ", ".join(person.seats) or "—"),
        ],
    )


def _charged(value: str | None, override: str | None) -> str:
    if value is None:
        return "—"
    return f"{value} (override)" if override is not None else value


@people_app.command("set")
def set_charging(
    email: Annotated[str, typer.Argument(help="the person's email (any case, any alias domain)")],
    department: Annotated[
        str | None, typer.Option("--department", help="charge their seats to this department")
    ] = None,
    cost_center: Annotated[
        str | None, typer.Option("--cost-center", help="charge their seats to this cost centre")
    ] = None,
    clear_department: Annotated[
        bool,
        typer.Option("--clear-department", help="drop the override: the IdP's department again"),
    ] = False,
    clear_cost_center: Annotated[
        bool,
        typer.Option("--clear-cost-center", help="drop the override: the IdP's cost centre again"),
    ] = False,
) -> None:
    """Override where a person's seats are charged (wins over the identity provider until
    cleared)."""
    if department is not None and clear_department:
        raise typer.BadParameter("--department and --clear-department exclude each other")
    if cost_center is not None and clear_cost_center:
        raise typer.BadParameter("--cost-center and --clear-cost-center exclude each other")
    changes: dict[str, str | None] = {}
    if department is not None or clear_department:
        changes["department"] = department
    if cost_center is not None or clear_cost_center:
        changes["cost_center"] = cost_center
    with store() as st, st.db.transaction() as session:
        person = service.find_person(session, email)
        view = service.set_charging(session, clock(), person.id, changes)
    console.print(
        f"{output.literal(view.email)}: department "
        f"{output.literal(_charged(view.department, view.department_override))}, cost centre "
        f"{output.literal(_charged(view.cost_center, view.cost_center_override))}"
    )


@alias_app.command("add")
def alias_add(
    alias: Annotated[str, typer.Argument(help="the other domain, e.g. old.example.com")],
    domain: Annotated[str, typer.Argument(help="the domain people are known by, e.g. example.com")],
) -> None:
    """Treat emails at ALIAS as the same people as at DOMAIN (people are merged now)."""
    with store() as st, st.db.transaction() as session:
        added = service.add_alias(session, clock(), alias, domain)
    console.print(output.literal(f"Emails at {added.alias} are now matched as {added.canonical}."))


@alias_app.command("remove")
def alias_remove(alias: Annotated[str, typer.Argument(help="the alias domain")]) -> None:
    """Stop treating ALIAS as another domain's (accounts there get their own people again)."""
    with store() as st, st.db.transaction() as session:
        service.remove_alias(session, clock(), alias)
    console.print(output.literal(f"{alias.strip().lower()} is no longer an alias."))


@alias_app.command("list")
def alias_list(json_: JsonFlag = False) -> None:
    """Domain aliases."""
    with store() as st, st.db.sessions() as session:
        rows = service.list_aliases(session)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    output.table("Domain aliases", ["Alias", "Domain"], [(r.alias, r.canonical) for r in rows])


@app.command("same-app")
def same_app(
    model: Annotated[str, typer.Argument(help="software model: id or 'Publisher Product Edition'")],
    other: Annotated[str | None, typer.Argument(help="the model it is the same app as")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="no longer the same app as any")] = False,
) -> None:
    """Say that MODEL (e.g. an Okta SSO app) is the same app as OTHER (a direct integration),
    so each person holding both counts once."""
    if (other is None) != clear:
        raise typer.BadParameter("name the OTHER model, or use --clear")
    with store() as st, st.db.transaction() as session:
        linked = service.link_same_app(session, clock(), model, other)
    said = ", ".join(linked.same_app_as) or "no other model"
    console.print(
        output.literal(
            f"{linked.software_model}: same app as {said}; {linked.accounts} accounts, "
            f"{linked.people_across_same_app} people across them."
        )
    )


@app.command("models")
def models(json_: JsonFlag = False) -> None:
    """Per software model: accounts and distinct people holding it, and the same-app links."""
    with store() as st, st.db.sessions() as session:
        rows = service.people_per_model(session)
    if json_:
        output.print_json([r.model_dump() for r in rows])
        return
    output.table(
        "People per software model",
        [
            "Model",
            ("Accounts", "right"),
            ("People", "right"),
            "Same app as",
            ("People across same app", "right"),
        ],
        [
            (
                r.software_model,
                r.accounts,
                r.people,
                ", ".join(r.same_app_as) or "—",
                r.people_across_same_app,
            )
            for r in rows
        ],
    )


def _listing(
    json_: bool,
    title: str,
    columns: list[str],
    page: Callable[[Any, str | None, int], tuple[Sequence[Any], str | None]],
    cells: Callable[[Any], Sequence[Any]],
) -> None:
    """A paged listing printed whole as it is read, a page per read session (``PAGE``)."""
    with store() as st:
        rows = paged(st.db, lambda session, cursor: page(session, cursor, PAGE))
        if json_:
            output.print_json_stream(r.model_dump() for r in rows)
            return
        output.table_pages(title, columns, (cells(r) for r in rows))


@people_app.command("unmatched")
def unmatched(json_: JsonFlag = False) -> None:
    """Accounts holding a seat that match nobody (no email, or unknown to the identity
    provider)."""
    _listing(
        json_,
        "Accounts that match nobody",
        ["Profile", "Account", "User", "Email", "Model", "Why"],
        service.unmatched_page,
        lambda r: (r.profile, r.external_id, r.username, r.email, r.software_model, r.reason),
    )


@people_app.command("leavers")
def leavers(json_: JsonFlag = False) -> None:
    """People who left (deprovisioned or suspended in the identity provider) still holding
    seats."""
    _listing(
        json_,
        "People who left, still holding seats",
        ["Email", "Status", "Profile", "Account", "Model"],
        service.leavers_page,
        lambda r: (r.email, r.status, r.profile, r.external_id, r.software_model),
    )
