"""Vendor values made storable before they are staged (the kit's `Cleaner`, with the store's
column lengths read from the ORM), so one odd record never fails a sync.

- accounts (`AccountRecord`): text without control characters and cut to its column; instants
  outside 1970..2999 dropped; an account whose id cannot be stored as it is (a control
  character, longer than its column) is left out, counted ``external_id.unusable``;
- an identity provider's people (`PersonRecord`) and their group names, likewise;
- activity events: an event at an instant outside 1970..2999, or for an unusable id, is left out.

What was changed is counted per field (``display_name.truncated``) in the run record.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table

from shelfware.connectors.base import AccountRecord, ActivityRecord, PersonRecord
from shelfware.kit.text import Cleaner
from shelfware.models import Person, PersonGroup, StagedAccount, Subscription


def column_lengths(*tables: Any) -> dict[str, int]:
    """The length of every bounded text column of the tables, by name (the shortest wins)."""
    lengths: dict[str, int] = {}
    for table in tables:
        assert isinstance(table, Table)
        for column in table.columns:
            if isinstance(column.type, String) and column.type.length:
                known = lengths.get(column.name)
                lengths[column.name] = min(known or column.type.length, column.type.length)
    return lengths


ACCOUNT_LENGTHS = column_lengths(StagedAccount.__table__, Subscription.__table__)
_PERSON = column_lengths(Person.__table__)
# PersonRecord field -> the column it is stored in (its email and login may also become the
# person's email key)
PERSON_LENGTHS: Mapping[str, int] = {
    "external_id": _PERSON["idp_user_id"],
    "email": min(_PERSON["email"], _PERSON["idp_login"]),
    "login": min(_PERSON["idp_login"], _PERSON["email"]),
    "display_name": _PERSON["display_name"],
    "status": _PERSON["idp_status"],
    "manager": _PERSON["idp_manager_id"],
    "department": _PERSON["department"],
    "cost_center": _PERSON["cost_center"],
}
GROUP_LENGTH = column_lengths(PersonGroup.__table__)["name"]
KEY_LENGTH = ACCOUNT_LENGTHS["external_id"]


def account_fields(
    fields: tuple[str, ...], instants: frozenset[str]
) -> tuple[list[tuple[int, str, int]], list[tuple[int, str]]]:
    """Positions of an account row's text fields (with their column's length) and instant
    fields. Every text field has a bounded column (a KeyError here says one has not)."""
    types = typing.get_type_hints(AccountRecord)
    texts = [
        (i, name, ACCOUNT_LENGTHS[name])
        for i, name in enumerate(fields)
        if name != "external_id" and (types[name] is str or str in typing.get_args(types[name]))
    ]
    stamps = [(i, name) for i, name in enumerate(fields) if name in instants]
    return texts, stamps


def clean_person(cleaner: Cleaner, person: PersonRecord) -> PersonRecord:
    """An identity provider's person with storable values (never left out: a person missing
    from an import would count as deleted there, i.e. as a leaver)."""
    text = cleaner.text
    groups = person.groups
    if groups is not None:
        groups = tuple(
            g for g in (text("group", name, GROUP_LENGTH) for name in groups) if g is not None
        )
    return PersonRecord(
        external_id=text("person.external_id", person.external_id, PERSON_LENGTHS["external_id"])
        or "",
        email=text("person.email", person.email, PERSON_LENGTHS["email"]),
        login=text("person.login", person.login, PERSON_LENGTHS["login"]),
        display_name=text(
            "person.display_name", person.display_name, PERSON_LENGTHS["display_name"]
        ),
        status=text("person.status", person.status, PERSON_LENGTHS["status"]) or "",
        manager=text("person.manager", person.manager, PERSON_LENGTHS["manager"]),
        groups=groups,
        department=text("person.department", person.department, PERSON_LENGTHS["department"]),
        cost_center=text("person.cost_center", person.cost_center, PERSON_LENGTHS["cost_center"]),
    )


def clean_activity(cleaner: Cleaner, event: ActivityRecord) -> datetime | None:
    """The instant of an activity event, or None when it is to be left out."""
    if not cleaner.usable_key("activity.external_id", event.external_id, KEY_LENGTH):
        return None
    return cleaner.instant("activity.at", event.at)


def clean_account(record: AccountRecord, cleaner: Cleaner | None = None) -> AccountRecord:
    """One account record with storable values (the reclaim's re-read uses it: a date in year
    9999 there must not read as "active again")."""
    cleaner = cleaner or Cleaner()
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if field.name == "external_id":
            continue
        if isinstance(value, str):
            cleaned: Any = cleaner.text(field.name, value, ACCOUNT_LENGTHS.get(field.name))
        elif isinstance(value, datetime):
            cleaned = cleaner.instant(field.name, value)
        else:
            continue
        if cleaned is not value:
            changes[field.name] = cleaned
    return dataclasses.replace(record, **changes) if changes else record
