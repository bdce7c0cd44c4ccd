"""What reclamation asks the directory: a person's manager, the members of a group.

The directory (people imported from an identity provider) answers through two optional
functions of ``shelfware.directory.service``:

- ``manager_email(session, person_id) -> str | None``
- ``group_member_emails(session, groups: list[str]) -> set[str]`` (normalised emails)

Until the directory offers them, a person has no manager (a "keep" goes to the rule's
approvers) and group exclusions select nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from shelfware.directory import service as directory


def manager_email(session: Session, person_id: int | None) -> str | None:
    lookup: Any = getattr(directory, "manager_email", None)
    if lookup is None or person_id is None:
        return None
    found = lookup(session, person_id)
    return str(found).strip().lower() or None if found else None


def group_member_emails(session: Session, groups: Iterable[Any] | None) -> frozenset[str]:
    names = [str(g).strip() for g in groups or [] if str(g).strip()]
    lookup: Any = getattr(directory, "group_member_emails", None)
    if lookup is None or not names:
        return frozenset()
    return frozenset(str(e).strip().lower() for e in lookup(session, names) if e)
