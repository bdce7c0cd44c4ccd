"""What reclamation asks the directory: a person's manager, the members of a group.

The directory (people imported from an identity provider, `shelfware.directory.service`)
answers: a person's manager's email (a "keep" goes to them, else to the rule's approvers),
and the normalised emails of the members of identity-provider groups (rule exclusions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import SelectBase
from sqlalchemy.orm import Session

from shelfware.directory import service as directory


def manager_email(session: Session, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    found = directory.manager_email(session, person_id)
    return found.strip().lower() or None if found else None


def group_members(session: Session, groups: Iterable[Any] | None) -> SelectBase | None:
    """SQL: the normalised emails of the members of the named groups; None for no group."""
    names = [str(g).strip() for g in groups or [] if str(g).strip()]
    if not names:
        return None
    return directory.group_member_keys(names)
