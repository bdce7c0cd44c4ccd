"""People: one human across apps, matched by normalised email plus resolution rules.

- An email's matching key: lower case, trimmed (whitespace never matters), then its domain
  mapped through the domain aliases (`old.example.com` -> `example.com`).
- Every subscription links to the person of its key (people are created for new keys by the
  sync, set-based); an identity provider (Okta) imports its people with their status, so
  leavers are known (`LEFT_STATUSES`).
- Reports: accounts that match nobody the identity provider knows, and per software model the
  distinct people holding it, with the models that are the same app reached another way.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    SelectBase,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from shelfware.audit import service as audit
from shelfware.connectors.base import PersonRecord
from shelfware.directory.schemas import (
    AliasView,
    ImportResult,
    LeaverSeat,
    ModelPeople,
    PersonView,
    UnmatchedAccount,
)
from shelfware.kit import keyset
from shelfware.kit.clock import Clock
from shelfware.kit.db import UTCDateTime, insert_for, rowcount
from shelfware.licensing.service import find_model
from shelfware.models import (
    DomainAlias,
    IntegrationProfile,
    Person,
    PersonGroup,
    SoftwareModel,
    StagedAccount,
    Subscription,
)
from shelfware.models.person import LEFT_STATUSES

ST = StagedAccount.__table__.c
P = Person.__table__.c
S = Subscription.__table__.c
M = SoftwareModel.__table__.c
SUBSCRIPTIONS: Table = cast(Table, Subscription.__table__)
PEOPLE: Table = cast(Table, Person.__table__)
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
WHITESPACE = ("\t", "\n", "\r")
MASS_DELETION_MIN = 10  # from this many people on, losing more than half of them is refused
IDP_FIELDS = (
    "idp_profile_id",
    "idp_user_id",
    "idp_login",
    "idp_status",
    "idp_seen_at",
    "idp_manager_id",
    "department",
    "cost_center",
)


class DirectoryError(ValueError):
    """A directory operation was refused; the message says why."""


class AliasNotFound(DirectoryError, LookupError):
    """No such domain alias."""


class NotADomain(DirectoryError):
    """A value given as a domain name is not one."""


class PersonNotFound(DirectoryError, LookupError):
    """No such person."""


# --------------------------------------------------------------------------- matching keys


def normalise_email(value: str | None) -> str | None:
    """The case- and whitespace-free form of an email; None when it is not one."""
    if value is None:
        return None
    email = value.strip().lower()
    return email if "@" in email[1:-1] else None


def canonical_email(value: str | None, aliases: Mapping[str, str]) -> str | None:
    """The matching key of an email: normalised, its domain mapped through `aliases`."""
    email = normalise_email(value)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local}@{aliases.get(domain, domain)}"


def alias_table(session: Session) -> dict[str, str]:
    return {a.alias: a.canonical for a in session.scalars(select(DomainAlias))}


def normalised_email(column: ColumnElement[str | None]) -> ColumnElement[str]:
    """SQL for an email lower-cased and trimmed of whitespace (tabs and newlines too)."""
    for char in WHITESPACE:
        column = func.replace(column, char, " ")
    return func.lower(func.trim(column))


def canonical_email_sql(
    column: ColumnElement[str | None], aliases: Mapping[str, str]
) -> ColumnElement[str]:
    """SQL for `canonical_email` (aliases are few: one CASE branch each)."""
    email = normalised_email(column)
    if not aliases:
        return email
    branches = [
        (
            email.like(f"%@{alias}"),
            func.substr(email, 1, func.length(email) - len(alias)).concat(canonical),
        )
        for alias, canonical in sorted(aliases.items())
    ]
    return case(*branches, else_=email)


def add_people_from_run(session: Session, run_id: int, now: datetime) -> int:
    """Create a person for every email key a run downloaded that no person has yet
    (set-based); the switch-over then links accounts to people in the statement that writes
    them. Returns how many people were created."""
    email = canonical_email_sql(ST.email, alias_table(session))
    new_people = (
        select(email, func.max(ST.display_name), literal(now, UTCDateTime()))
        .where(ST.run_id == run_id, email.like("%_@_%"), ~exists().where(P.email == email))
        .group_by(email)
    )
    statement = (
        insert_for(session.get_bind().dialect.name, Person.__table__)
        .from_select([P.email, P.display_name, P.created_at], new_people)
        .on_conflict_do_nothing(index_elements=[P.email])
    )
    return rowcount(session.execute(statement.execution_options(preserve_rowcount=True))) or 0


def person_join_condition(session: Session) -> ColumnElement[bool]:
    """How a staged account finds its person."""
    return P.email == canonical_email_sql(ST.email, alias_table(session))


# --------------------------------------------------------------------------- identity provider


def import_people(
    session: Session, profile_id: int, people: Iterable[PersonRecord], now: datetime
) -> ImportResult:
    """Record an identity provider's people (after a complete download): a person per email
    key, with the provider's id, login and status (batched writes). People the provider
    imported before and no longer lists at all were deleted there: their status becomes
    DELETED (they left)."""
    aliases = alias_table(session)
    known = {email: pid for pid, email in session.execute(select(P.id, P.email))}
    before = set(
        session.scalars(
            select(P.id).where(P.idp_profile_id == profile_id, P.idp_status != "DELETED")
        )
    )
    result = ImportResult()
    memberships: dict[str, set[str]] = {}  # email key -> group names
    groups_read = False
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[int, dict[str, Any]] = {}
    for person in people:
        email = canonical_email(person.email, aliases) or canonical_email(person.login, aliases)
        if email is None:
            result.without_email += 1
            continue
        values = {
            "idp_profile_id": profile_id,
            "idp_user_id": person.external_id,
            "idp_login": person.login,
            "idp_status": person.status.upper(),
            "idp_seen_at": now,
            "idp_manager_id": person.manager,
            "department": _group_name(person.department),
            "cost_center": _group_name(person.cost_center),
        }
        if person.groups is not None:
            groups_read = True
            memberships.setdefault(email, set()).update(g.strip() for g in person.groups)
        pid = known.get(email)
        if pid is None:
            row = {"email": email, "display_name": person.display_name, "created_at": now}
            inserts.setdefault(email, {**row, **values})  # the first of a shared email wins
        else:
            updates.setdefault(pid, {"b_id": pid, **{f"b_{k}": v for k, v in values.items()}})
        if person.status.upper() in LEFT_STATUSES:
            result.left += 1
    if inserts:
        session.execute(PEOPLE.insert(), list(inserts.values()))
    if updates:
        statement = (
            update(PEOPLE)
            .where(P.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in IDP_FIELDS})
        )
        session.execute(statement, list(updates.values()))
    result.created, result.updated = len(inserts), len(updates)
    stale = sorted(before - set(updates))
    if len(before) >= MASS_DELETION_MIN and len(stale) * 2 > len(before):
        # another organisation behind the same profile, not half the company deleted at once
        raise DirectoryError(
            f"the identity provider no longer lists {len(stale)} of the {len(before)} people "
            "it listed before; refusing to count them all as leavers (check the profile's URL "
            "and token)"
        )
    for chunk in range(0, len(stale), 1000):
        session.execute(
            update(PEOPLE)
            .where(P.id.in_(stale[chunk : chunk + 1000]))
            .values(idp_status="DELETED", idp_seen_at=now)
        )
    result.deleted = len(stale)
    if groups_read:
        result.memberships = _replace_memberships(session, profile_id, memberships)
    return result


def _group_name(value: str | None) -> str | None:
    """A department or cost centre as stored: trimmed, inner whitespace single; None when
    blank (a blank department is no department)."""
    if value is None:
        return None
    return " ".join(value.split()) or None


def _replace_memberships(
    session: Session, profile_id: int, memberships: Mapping[str, set[str]]
) -> int:
    """The profile's group memberships become exactly `memberships` (email key -> names)."""
    session.execute(delete(PersonGroup).where(PersonGroup.profile_id == profile_id))
    ids = {
        email: pid
        for pid, email in session.execute(
            select(P.id, P.email).where(P.idp_profile_id == profile_id)
        )
    }
    rows = [
        {"person_id": ids[email], "profile_id": profile_id, "name": name}
        for email, names in sorted(memberships.items())
        if email in ids
        for name in sorted(n for n in names if n)
    ]
    if rows:
        session.execute(insert(PersonGroup), rows)
    return len(rows)


def link_accounts_to_people(session: Session, idp_profile_id: int) -> int:
    """Full import: link accounts in the other profiles to the people an identity provider
    imported, by email key or by the provider's login (user names that are logins). Returns
    how many accounts were linked anew."""
    aliases = alias_table(session)
    key = canonical_email_sql(S.email, aliases)
    login = normalised_email(S.username)
    imported = and_(P.idp_profile_id == idp_profile_id)
    match = (
        select(P.id)
        .where(imported, or_(P.email == key, func.lower(P.idp_login) == login))
        .order_by(P.id)
        .limit(1)
        .scalar_subquery()
    )
    already = exists().where(P.id == S.person_id, imported)
    statement = (
        update(SUBSCRIPTIONS)
        .where(
            S.profile_id != idp_profile_id,
            not_(already),
            exists().where(imported, or_(P.email == key, func.lower(P.idp_login) == login)),
        )
        .values(person_id=match)
    )
    return rowcount(session.execute(statement)) or 0


def profiles_with_leaver_seats(session: Session) -> list[int]:
    """Profiles where someone who left still holds a seat (to evaluate them again)."""
    left = select(P.id).where(P.idp_status.in_(LEFT_STATUSES))
    query = (
        select(S.profile_id)
        .where(S.person_id.in_(left), S.active.is_(True), S.gone_at.is_(None))
        .distinct()
    )
    return sorted(session.scalars(query))


# --------------------------------------------------------------------------- aliases


def _domain(text: str, what: str) -> str:
    domain = text.strip().lower().lstrip("@")
    if not DOMAIN.match(domain):
        raise NotADomain(f"{what} {text!r} is not a domain name (e.g. example.com)")
    return domain


def add_alias(session: Session, clock: Clock, alias: str, canonical: str) -> AliasView:
    """Emails at `alias` belong to the people at `canonical`; existing people are merged."""
    alias, canonical = _domain(alias, "alias"), _domain(canonical, "domain")
    if alias == canonical:
        raise DirectoryError("a domain cannot be an alias of itself")
    table = alias_table(session)
    if alias in table:
        raise DirectoryError(f"{alias} is already an alias of {table[alias]}")
    if canonical in table:
        raise DirectoryError(
            f"{canonical} is itself an alias of {table[canonical]}: alias {alias} to "
            f"{table[canonical]} instead"
        )
    if alias in table.values():
        raise DirectoryError(f"other domains are aliases of {alias}: remove those first")
    added = DomainAlias(alias=alias, canonical=canonical, created_at=clock.now())
    session.add(added)
    session.flush()
    relink_people(session, clock.now())
    audit.record(
        session,
        clock,
        action="directory.alias_add",
        object_type="domain_alias",
        object_id=added.id,
        alias=alias,
        canonical=canonical,
    )
    return AliasView(alias=alias, canonical=canonical)


def remove_alias(session: Session, clock: Clock, alias: str) -> None:
    domain = _domain(alias, "alias")
    found = session.scalar(select(DomainAlias).where(DomainAlias.alias == domain))
    if found is None:
        raise AliasNotFound(f"{domain} is not an alias")
    audit.record(
        session,
        clock,
        action="directory.alias_remove",
        object_type="domain_alias",
        object_id=found.id,
        alias=domain,
    )
    session.delete(found)
    session.flush()
    relink_people(session, clock.now())


def list_aliases(session: Session) -> list[AliasView]:
    return [AliasView(alias=a, canonical=c) for a, c in sorted(alias_table(session).items())]


def relink_people(session: Session, now: datetime) -> None:
    """After the rules changed: merge people whose keys became one, and link every account to
    the person of its key (an admin operation, not a hot path)."""
    aliases = alias_table(session)
    people = {p.email: p for p in session.scalars(select(Person).order_by(Person.id))}
    for email, person in list(people.items()):
        key = canonical_email(email, aliases) or email
        if key == email:
            continue
        target = people.get(key)
        del people[email]
        if target is None:
            person.email = key
            people[key] = person
            session.flush()
            continue
        if target.idp_user_id is None and person.idp_user_id is not None:
            for name in IDP_FIELDS:
                setattr(target, name, getattr(person, name))
        for name in OVERRIDES.values():
            if getattr(target, name) is None:
                setattr(target, name, getattr(person, name))
        session.execute(
            update(SUBSCRIPTIONS).where(S.person_id == person.id).values(person_id=target.id)
        )
        _move_memberships(session, person.id, target.id)
        session.execute(delete(PEOPLE).where(P.id == person.id))
    session.flush()
    rows = session.execute(select(S.id, S.email, S.person_id).where(S.email.is_not(None)))
    changes: dict[int, list[int]] = {}
    for sub_id, email, person_id in rows:
        matched = canonical_email(email, aliases)
        if matched is None:
            continue
        holder = people.get(matched)
        if holder is None:
            holder = people[matched] = Person(email=matched, created_at=now)
            session.add(holder)
            session.flush()
        if holder.id != person_id:
            changes.setdefault(holder.id, []).append(sub_id)
    for person_id, ids in changes.items():
        session.execute(update(SUBSCRIPTIONS).where(S.id.in_(ids)).values(person_id=person_id))


def _move_memberships(session: Session, from_id: int, to_id: int) -> None:
    """A merged person's group memberships become the surviving person's."""
    held = aliased(PersonGroup)
    already = exists().where(
        held.person_id == to_id,
        held.profile_id == PersonGroup.profile_id,
        held.name == PersonGroup.name,
    )
    session.execute(
        update(PersonGroup)
        .where(PersonGroup.person_id == from_id, ~already)
        .values(person_id=to_id)
    )
    session.execute(delete(PersonGroup).where(PersonGroup.person_id == from_id))


# --------------------------------------------------------------------------- managers, groups


def manager_email(session: Session, person_id: int) -> str | None:
    """The email of the person's manager, as their identity provider names them (by id,
    login, email or, when unique, display name, among the same provider's people); None
    when there is none, it names nobody known, or the manager has left."""
    person = session.get(Person, person_id)
    if person is None or not person.idp_manager_id or person.idp_profile_id is None:
        return None
    manager = _manager_of(session, person)
    if manager is None or manager.id == person.id or manager.idp_status in LEFT_STATUSES:
        return None
    return manager.email


def _manager_of(session: Session, person: Person) -> Person | None:
    ref = (person.idp_manager_id or "").strip()
    same_idp = Person.idp_profile_id == person.idp_profile_id
    email = canonical_email(ref, alias_table(session))
    for condition in (
        Person.idp_user_id == ref,
        func.lower(Person.idp_login) == ref.lower(),
        Person.email == (email or ""),
    ):
        found = session.scalars(select(Person).where(same_idp, condition).limit(1)).first()
        if found is not None:
            return found
    named = session.scalars(
        select(Person).where(same_idp, func.lower(Person.display_name) == ref.lower()).limit(2)
    ).all()
    return named[0] if len(named) == 1 else None


def group_member_keys(groups: Iterable[str]) -> SelectBase:
    """SQL: the normalised emails of the members of the named identity-provider groups (names
    in any case): each member's email key and login, and the emails of the accounts linked to
    them (so accounts at an alias domain are theirs too). A query, not a list, so that a group
    of 100,000 people (Okta's "Everyone") costs a join, not 100,000 bound values."""
    names = sorted({g.strip().lower() for g in groups if g.strip()})
    members = select(PersonGroup.person_id).where(func.lower(PersonGroup.name).in_(names))

    def key(column: Any) -> ColumnElement[str]:
        return func.lower(func.trim(column))

    return union(
        select(key(P.email)).where(P.id.in_(members)),
        select(key(P.idp_login)).where(P.id.in_(members), P.idp_login.like("%_@_%")),
        select(key(S.email)).where(S.person_id.in_(members), S.email.like("%_@_%")),
    )


def group_member_emails(session: Session, groups: Iterable[str]) -> set[str]:
    """The normalised emails of the members of the named groups (see `group_member_keys`)."""
    if not any(g.strip() for g in groups):
        return set()
    return {e for e in session.scalars(select(group_member_keys(groups).subquery().c[0])) if e}


def find_person(session: Session, email: str) -> Person:
    """A person by email (any case, any alias domain)."""
    key = canonical_email(email, alias_table(session))
    if key is None:
        raise DirectoryError(f"{email.strip()!r} is not an email address")
    person = session.scalar(select(Person).where(Person.email == key))
    if person is None:
        raise PersonNotFound(f"nobody in the directory has the email {key}")
    return person


def person_detail(session: Session, email: str) -> PersonView:
    """One person by email (any case, any alias domain): identity-provider status, manager,
    groups, where their seats are charged and the seats they hold."""
    return _person_view(session, find_person(session, email))


def person_by_id(session: Session, person_id: int) -> PersonView:
    person = session.get(Person, person_id)
    if person is None:
        raise PersonNotFound(f"no person with id {person_id}")
    return _person_view(session, person)


# --------------------------------------------------------------------------- charging

# what an administrator can override -> its override column (the provider's is the name)
OVERRIDES: dict[str, str] = {
    "department": "department_override",
    "cost_center": "cost_center_override",
}
CHARGE_LENGTHS = {"department": 200, "cost_center": 100}


def effective(override: str | None, from_idp: str | None) -> str | None:
    """The override, else the identity provider's value (the chargeback's SQL says the same
    with COALESCE, then falls back to the account's own value from its app)."""
    return override if override is not None else from_idp


def _override_value(field: str, value: str) -> str:
    text = _group_name(value)
    label = field.replace("_", " ")
    if text is None:
        raise DirectoryError(f"the {label} is empty: give one, or clear the override")
    if not text.isprintable():
        raise DirectoryError(f"the {label} has control characters")
    if len(text) > CHARGE_LENGTHS[field]:
        raise DirectoryError(f"the {label} is longer than {CHARGE_LENGTHS[field]} characters")
    return text


def set_charging(
    session: Session, clock: Clock, person_id: int, changes: Mapping[str, str | None]
) -> PersonView:
    """Override where a person's seats are charged: ``changes`` maps "department" and/or
    "cost_center" to the override (None: clear it, so the identity provider's value counts
    again). The override wins over every later import until cleared. Audited."""
    person = session.get(Person, person_id)
    if person is None:
        raise PersonNotFound(f"no person with id {person_id}")
    unknown = sorted(set(changes) - set(OVERRIDES))
    if unknown:
        raise DirectoryError(f"cannot override {', '.join(unknown)}: only {sorted(OVERRIDES)}")
    if not changes:
        raise DirectoryError("nothing to change: give a department or cost centre, or clear one")
    before: dict[str, str | None] = {}
    after: dict[str, str | None] = {}
    for field, value in sorted(changes.items()):
        column = OVERRIDES[field]
        before[field] = getattr(person, column)
        after[field] = None if value is None else _override_value(field, value)
        setattr(person, column, after[field])
    session.flush()
    audit.record(
        session,
        clock,
        action="directory.person_charging",
        object_type="person",
        object_id=person.id,
        email=person.email,
        before=before,
        after=after,
    )
    return _person_view(session, person)


def _person_view(session: Session, person: Person) -> PersonView:
    groups = session.scalars(
        select(PersonGroup.name)
        .where(PersonGroup.person_id == person.id)
        .distinct()
        .order_by(PersonGroup.name)
    )
    model = _model_name().label("model")  # one expression: PostgreSQL's DISTINCT wants it
    seats = session.scalars(
        select(model)
        .join_from(SUBSCRIPTIONS, SoftwareModel.__table__, M.id == S.software_model_id)
        .where(S.person_id == person.id, _holds_seat())
        .distinct()
        .order_by(model)
    )
    return PersonView(
        id=person.id,
        email=person.email,
        display_name=person.display_name,
        status=person.idp_status,
        login=person.idp_login,
        manager=manager_email(session, person.id),
        manager_reference=person.idp_manager_id,
        groups=list(groups),
        seats=list(seats),
        department=effective(person.department_override, person.department),
        cost_center=effective(person.cost_center_override, person.cost_center),
        department_from_idp=person.department,
        cost_center_from_idp=person.cost_center,
        department_override=person.department_override,
        cost_center_override=person.cost_center_override,
        left=(person.idp_status or "").upper() in LEFT_STATUSES,
    )


# --------------------------------------------------------------------------- reports


def _holds_seat() -> ColumnElement[bool]:
    return and_(S.active.is_(True), S.gone_at.is_(None))


def _model_name() -> ColumnElement[str]:
    return M.publisher.concat(" ").concat(M.product).concat(" ").concat(M.edition)


# Both listings are keyset-paged in their own order (kit.keyset): a page reads what it holds.
UNMATCHED_CURSOR, LEAVERS_CURSOR = "unmatched", "leavers"
PROFILE = IntegrationProfile.__table__.c


def _unmatched_query(session: Session) -> Select[Any]:
    have_idp = session.scalar(select(exists().where(P.idp_user_id.is_not(None))))
    known = exists().where(P.id == S.person_id, P.idp_user_id.is_not(None))
    reason = case(
        (S.person_id.is_(None), literal("no email to match by")),
        else_=literal("nobody in the identity provider has this email"),
    )
    condition: ColumnElement[bool] = S.person_id.is_(None)
    if have_idp:
        condition = or_(condition, ~known)
    return (
        select(PROFILE.name, S.external_id, S.username, S.email, _model_name(), reason)
        .join_from(SUBSCRIPTIONS, IntegrationProfile.__table__, PROFILE.id == S.profile_id)
        .join(SoftwareModel.__table__, M.id == S.software_model_id)
        .where(_holds_seat(), condition)
        .order_by(PROFILE.name, S.external_id)
    )


def _unmatched(row: Any) -> UnmatchedAccount:
    return UnmatchedAccount(
        profile=row[0],
        external_id=row[1],
        username=row[2],
        email=row[3],
        software_model=row[4],
        reason=row[5],
    )


def unmatched_accounts(session: Session) -> list[UnmatchedAccount]:
    """Accounts holding a seat that match nobody: no email to match by, or (once an identity
    provider has imported people) nobody the identity provider knows; by profile and account.
    All of them: the faces read :func:`unmatched_page` instead."""
    return [_unmatched(row) for row in session.execute(_unmatched_query(session))]


def unmatched_page(
    session: Session, cursor: str | None = None, limit: int = 100
) -> tuple[list[UnmatchedAccount], str | None]:
    """A page of :func:`unmatched_accounts` (same order) and the next page's cursor (None:
    the last page). Read profile by profile (by name, from the cursor's), each a range of its
    (profile_id, external_id) index, so that a page never sorts every account."""
    query = _unmatched_query(session).order_by(None).order_by(S.external_id)
    last = keyset.decode(UNMATCHED_CURSOR, cursor, (str, str)) if cursor else None

    def segments() -> Iterator[Select[Any]]:
        found = select(PROFILE.id, PROFILE.name).order_by(PROFILE.name)
        if last is not None:
            found = found.where(PROFILE.name >= last[0])
        for profile_id, name in session.execute(found).all():
            segment = query.where(S.profile_id == profile_id)
            if last is not None and name == last[0]:
                segment = segment.where(S.external_id > last[1])
            yield segment

    rows = [_unmatched(row) for row in keyset.read(session, segments(), limit)]
    return keyset.cut(rows, limit, UNMATCHED_CURSOR, lambda u: [u.profile, u.external_id])


def _leavers_query(*statuses: str) -> Select[Any]:
    return (
        select(
            P.email.label("email"),
            P.idp_status.label("status"),
            PROFILE.name.label("profile"),
            S.external_id.label("external_id"),
            _model_name().label("software_model"),
        )
        .join_from(SUBSCRIPTIONS, PEOPLE, P.id == S.person_id)
        .join(IntegrationProfile.__table__, PROFILE.id == S.profile_id)
        .join(SoftwareModel.__table__, M.id == S.software_model_id)
        .where(_holds_seat(), P.idp_status.in_(statuses or LEFT_STATUSES))
        .order_by(P.email, PROFILE.name, S.external_id)
    )


def _leaver(row: Any) -> LeaverSeat:
    return LeaverSeat(
        email=row[0], status=row[1], profile=row[2], external_id=row[3], software_model=row[4]
    )


def leavers_holding_seats(session: Session) -> list[LeaverSeat]:
    """People who left (deprovisioned or suspended in the identity provider) still holding a
    seat in any app, by email, profile and account. All of them: the faces read
    :func:`leavers_page` instead."""
    return [_leaver(row) for row in session.execute(_leavers_query())]


def leavers_page(
    session: Session, cursor: str | None = None, limit: int = 100
) -> tuple[list[LeaverSeat], str | None]:
    """A page of :func:`leavers_holding_seats` (same order) and the next page's cursor. Each
    status that means "left" is read on its own, in email order from the cursor on (a range
    of ``ix_person_idp_status_email``, then the person's seats), ``limit + 1`` seats at most,
    and the database merges those few: a page never reads every leaver's seat."""
    last = keyset.decode(LEAVERS_CURSOR, cursor, (str, str, str)) if cursor else None
    parts = []
    for status in LEFT_STATUSES:
        part = _leavers_query(status)
        if last is not None:
            part = part.where(keyset.after([P.email, PROFILE.name, S.external_id], last))
        parts.append(part.limit(limit + 1).subquery().select())
    merged = union_all(*parts).subquery()
    query = select(*merged.c).order_by(merged.c.email, merged.c.profile, merged.c.external_id)
    rows = [_leaver(row) for row in keyset.read(session, [query], limit)]
    return keyset.cut(rows, limit, LEAVERS_CURSOR, lambda s: [s.email, s.profile, s.external_id])


def link_same_app(
    session: Session, clock: Clock, model_name: str, other_name: str | None
) -> ModelPeople:
    """Say that a software model (e.g. Okta's SSO app "Rally") is the same app as another
    (e.g. the direct Rally integration's model), or no longer the same as anything (`other`
    None). Models are named by id, 'Publisher/Product/Edition' or display name."""
    model = find_model(session, model_name)
    other = find_model(session, other_name) if other_name is not None else None
    if other is not None and other.id == model.id:
        raise DirectoryError("a software model cannot be the same app as itself")
    if other is not None and other.same_app_as_id == model.id:
        raise DirectoryError(
            f"{other.display_name} already points at {model.display_name}; link one way only"
        )
    model.same_app_as_id = other.id if other is not None else None
    session.flush()
    audit.record(
        session,
        clock,
        action="directory.same_app",
        object_type="software_model",
        object_id=model.id,
        same_app_as=other.display_name if other is not None else None,
    )
    return next(m for m in people_per_model(session) if m.software_model_id == model.id)


def link_same_apps_by_name(session: Session, publisher: str) -> int:
    """Flag SSO models of an identity provider (`publisher`) whose product is the product of
    exactly one model of a direct integration (e.g. Okta's "Rally" app and Broadcom Rally):
    the same app twice. Links already made (or removed by a person) are kept. Returns how
    many models were linked."""
    models = session.scalars(select(SoftwareModel)).all()
    direct: dict[str, list[SoftwareModel]] = {}
    for model in models:
        if model.publisher != publisher:
            direct.setdefault(model.product.casefold(), []).append(model)
    linked = 0
    for model in models:
        if model.publisher != publisher or model.same_app_as_id is not None:
            continue
        matches = direct.get(model.product.casefold(), [])
        if len(matches) == 1:
            model.same_app_as_id = matches[0].id
            linked += 1
    session.flush()
    return linked


def people_per_model(session: Session) -> list[ModelPeople]:
    """Per software model: accounts holding a seat, the distinct people among them (accounts
    without a person count one each), the models that are the same app (linked either way),
    and the distinct people across the model and those together: the per-person figure that
    counts someone reaching one app both through SSO and directly once.

    For reconciliation (licensing): rights used per account is `accounts`, per person
    `people_across_same_app`."""
    models = {m.id: m for m in session.scalars(select(SoftwareModel).order_by(SoftwareModel.id))}
    groups: dict[int, set[int]] = {mid: {mid} for mid in models}
    for model in models.values():
        other = model.same_app_as_id
        if other is not None and other in models:
            merged = groups[model.id] | groups[other]
            for mid in merged:
                groups[mid] = merged
    holders: dict[int, list[tuple[int | None, int]]] = {mid: [] for mid in models}
    rows = session.execute(select(S.software_model_id, S.person_id, S.id).where(_holds_seat()))
    for model_id, person_id, sub_id in rows:
        holders.setdefault(model_id, []).append((person_id, sub_id))

    def distinct(model_ids: Iterable[int]) -> int:
        keys: set[Any] = set()
        for mid in model_ids:
            for person_id, sub_id in holders.get(mid, []):
                keys.add(("p", person_id) if person_id is not None else ("s", sub_id))
        return len(keys)

    return [
        ModelPeople(
            software_model_id=mid,
            software_model=model.display_name,
            accounts=len(holders.get(mid, [])),
            people=distinct([mid]),
            same_app_as=sorted(models[o].display_name for o in groups[mid] if o != mid),
            people_across_same_app=distinct(groups[mid]),
        )
        for mid, model in models.items()
    ]
