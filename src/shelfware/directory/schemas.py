"""What the directory reports."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


@dataclass
class ImportResult:
    """An identity provider's people, as one import recorded them."""

    created: int = 0
    updated: int = 0
    left: int = 0  # listed as deprovisioned or suspended
    deleted: int = 0  # imported before, no longer listed at all
    without_email: int = 0
    linked: int = 0  # accounts in other profiles linked by a full import
    memberships: int | None = None  # group memberships recorded (None: groups not read)


class AliasView(BaseModel):
    alias: str
    canonical: str


class UnmatchedAccount(BaseModel):
    profile: str
    external_id: str
    username: str | None
    email: str | None
    software_model: str
    reason: str


class LeaverSeat(BaseModel):
    email: str
    status: str | None
    profile: str
    external_id: str
    software_model: str


class ModelPeople(BaseModel):
    """One software model's holders counted per account and per person."""

    software_model_id: int
    software_model: str
    accounts: int
    people: int
    same_app_as: list[str]
    people_across_same_app: int


class PersonView(BaseModel):
    """One person: who the identity provider says they are, their manager and groups, and
    where their seats are charged (the override, else the identity provider's value)."""

    id: int
    email: str
    display_name: str | None
    status: str | None  # the identity provider's status; None when no provider lists them
    login: str | None
    manager: str | None  # the manager's email, where the directory knows them
    manager_reference: str | None  # what the identity provider names as the manager
    groups: list[str]
    seats: list[str]  # software models they hold a seat of
    department: str | None  # effective: the override, else the identity provider's
    cost_center: str | None
    department_from_idp: str | None
    cost_center_from_idp: str | None
    department_override: str | None
    cost_center_override: str | None
    left: bool = False  # the identity provider says they left (deprovisioned, suspended, gone)
