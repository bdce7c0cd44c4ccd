"""SCIM 2.0 provisioning of shelfware's own users and role groups (RFC 7643 / 7644).

An identity provider (Okta, Entra ID...) creates, changes, deactivates and deletes the
people who may use shelfware, and pushes the groups that give them a role. The protocol
(requests, filters, PATCH, attribute selection, errors) is ``scim2-server``'s; this module
is its storage over shelfware's accounts, and the rules:

- Only *provisioned* users exist for SCIM: a local user with a password is never listed,
  changed or removed by the provider. A user the provider creates has no password (it signs
  in through single sign-on). Creating a user whose name is held by a single sign-on user
  (created at their first sign-in) adopts that user; a name held by a local user is a
  conflict.
- A user's role comes from the groups they are a member of, like the single sign-on groups
  claim: a group named after a role (``admin``, ``sam_manager``, ``sam_integrator``,
  ``viewer``) or mapped by ``SHELFWARE_SSO_ROLE_MAP`` (``sam-admins=admin``) gives that role,
  the highest one wins; a user in no such group is a ``viewer`` (the least role).
- Deprovisioning (``active`` false, or DELETE) ends the user's web sessions and revokes the
  API tokens they own at once, audited (``accounts.service.set_user``).
- Published attributes: User ``userName``, ``name.givenName``, ``name.familyName``,
  ``displayName``, ``emails`` (``value``, ``type``, ``primary``), ``active``, ``groups``
  (read-only), ``externalId``; Group ``displayName``, ``members``, ``externalId``. The
  published schemas hold only these, so a provider sends nothing shelfware would drop.

Filters: ``userName``, ``externalId``, ``id`` and a group's ``displayName`` compared with
``eq`` are looked up in SQL; any other filter (``emails[type eq "work"].value eq ...``) is
evaluated on the users read in batches, keeping only the asked page (memory stays bounded).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Group,
    InvalidValueException,
    Meta,
    NotFoundException,
    NotImplementedException,
    Patch,
    Resource,
    ResourceType,
    ResponseParameters,
    Schema,
    ScimPolicy,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    UniquenessException,
    User,
)
from scim2_models.path.expressions import CompareOperator, Comparison
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.accounts import service as accounts
from shelfware.accounts.roles import Role, role_for_groups
from shelfware.accounts.schemas import USERNAME_PATTERN
from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.models import ScimGroup, ScimGroupMember
from shelfware.models import User as UserRow

# What a page holds at most (ServiceProviderConfig filter.maxResults).
MAX_RESULTS = 200
MAX_EMAILS = 10
MAX_MEMBERS_PER_REQUEST = 10_000
BATCH = 500
USER = "User"
GROUP = "Group"
_USERNAME = re.compile(USERNAME_PATTERN)
# the longest value each kept text attribute may have (the columns' sizes)
_LIMITS = {"displayName": 300, "name.givenName": 200, "name.familyName": 200, "externalId": 600}

USER_ATTRIBUTES = ("userName", "name", "displayName", "active", "emails", "groups")
NAME_ATTRIBUTES = ("givenName", "familyName")
EMAIL_ATTRIBUTES = ("value", "type", "primary")


def _trimmed_user_schema() -> Schema:
    schema = User.to_schema()
    schema.attributes = [a for a in schema.attributes or [] if a.name in USER_ATTRIBUTES]
    for attribute in schema.attributes:
        keep = {"name": NAME_ATTRIBUTES, "emails": EMAIL_ATTRIBUTES}.get(attribute.name or "")
        if keep is not None:
            subs = attribute.sub_attributes or []
            attribute.sub_attributes = [s for s in subs if s.name in keep]
    schema.description = "shelfware user (provisioned)"
    return schema


def _trimmed_group_schema() -> Schema:
    schema = Group.to_schema()
    for attribute in schema.attributes or []:
        if attribute.name == "members":  # a member's display is its userName, not stored
            subs = attribute.sub_attributes or []
            attribute.sub_attributes = [s for s in subs if s.name != "display"]
    return schema


def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="SCIM provisioning token",
                description="Authorization: Bearer TOKEN, a token made by "
                "`shelfware scim tokens create NAME`",
                primary=True,
            )
        ],
    )


# What identity providers send, taken as they mean it: Okta and Entra ID send attributes and
# schemas shelfware does not keep (title, the enterprise extension...): dropped, not refused;
# Entra ID removes a member with a value and replaces `emails[type eq "work"].value` on a user
# with no work email.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


@cache
def provider() -> ScimProvider:
    """The service's description: the trimmed schemas, the two resource types, its config."""
    return ScimProvider.from_discovery(
        [_trimmed_user_schema(), _trimmed_group_schema()],
        [ResourceType.from_resource(User), ResourceType.from_resource(Group)],
        service_provider_config(),
        POLICY,
    )


def user_model() -> type[Resource[Any]]:
    model = provider().model_for(USER)
    assert model is not None
    return model  # type: ignore[return-value]


def group_model() -> type[Resource[Any]]:
    model = provider().model_for(GROUP)
    assert model is not None
    return model  # type: ignore[return-value]


def role_groups(role_map: dict[str, Role]) -> dict[str, Role]:
    """Group names that give a role: each role's own name, and the SSO role map's groups."""
    return {**{role.value: role for role in Role}, **role_map}


# --- shapes ------------------------------------------------------------------------------


def _version(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, default=str)
    return 'W/"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:20] + '"'


def _meta(kind: str, created: datetime, modified: datetime, document: dict[str, Any]) -> Meta:
    return Meta(
        resource_type=kind, created=created, last_modified=modified, version=_version(document)
    )


def _user_document(row: UserRow, groups: list[tuple[int, str]]) -> dict[str, Any]:
    document: dict[str, Any] = {"id": str(row.id), "userName": row.username}
    if row.scim_active is not None or not row.active:  # unsaid by the provider: omitted
        document["active"] = row.active
    if row.external_id is not None:
        document["externalId"] = row.external_id
    if row.display_name is not None:
        document["displayName"] = row.display_name
    name = {
        key: value
        for key, value in (("givenName", row.given_name), ("familyName", row.family_name))
        if value is not None
    }
    if name:
        document["name"] = name
    if row.emails:
        document["emails"] = row.emails
    if groups:
        document["groups"] = [
            {"value": str(gid), "$ref": f"Groups/{gid}", "display": name, "type": "direct"}
            for gid, name in groups
        ]
    return document


def _user_resource(row: UserRow, groups: list[tuple[int, str]]) -> Resource[Any]:
    document = _user_document(row, groups)
    resource = user_model().model_validate(document)
    resource.meta = _meta(USER, row.created_at, row.updated_at or row.created_at, document)
    return resource


def _group_document(row: ScimGroup, members: list[tuple[int, str]]) -> dict[str, Any]:
    document: dict[str, Any] = {"id": str(row.id), "displayName": row.display_name}
    if row.external_id is not None:
        document["externalId"] = row.external_id
    if members:
        document["members"] = [
            {"value": str(uid), "$ref": f"Users/{uid}", "type": "User"} for uid, _ in members
        ]
    return document


def _group_resource(row: ScimGroup, members: list[tuple[int, str]]) -> Resource[Any]:
    document = _group_document(row, members)
    resource = group_model().model_validate(document)
    resource.meta = _meta(GROUP, row.created_at, row.updated_at, document)
    return resource


def _text(value: Any, field: str) -> str | None:
    """A text attribute cleaned for storing: None for empty; too long is an invalid value."""
    if value is None:
        return None
    text = str(value).strip()
    if "\x00" in text:
        raise InvalidValueException(detail=f"{field} holds a NUL character")
    if len(text) > _LIMITS[field]:
        raise InvalidValueException(detail=f"{field} is longer than {_LIMITS[field]} characters")
    return text or None


def _emails(resource: Any) -> list[dict[str, Any]] | None:
    emails = getattr(resource, "emails", None) or []
    if len(emails) > MAX_EMAILS:
        raise InvalidValueException(detail=f"at most {MAX_EMAILS} emails are kept")
    kept = []
    for email in emails:
        entry = {
            key: value
            for key, value in (
                ("value", email.value),
                ("type", None if email.type is None else str(email.type)),
                ("primary", email.primary),
            )
            if value is not None
        }
        if len(str(entry.get("value", ""))) > 320 or len(str(entry.get("type", ""))) > 50:
            raise InvalidValueException(detail="an email value or type is too long")
        if entry:
            kept.append(entry)
    return kept or None


def _user_name(resource: Any) -> str:
    name = (getattr(resource, "user_name", None) or "").strip()
    if not _USERNAME.match(name):
        raise InvalidValueException(
            detail=f"userName {name[:100]!r} is not a shelfware user name: letters, digits "
            "and . _ @ - (at most 100, starting with a letter or digit)"
        )
    return name


def _resource_id(resource_id: str) -> int:
    if not resource_id.isdigit() or len(resource_id) > 18:
        raise NotFoundException(detail=f"no resource with id {resource_id[:40]!r}")
    return int(resource_id)


# --- storage -----------------------------------------------------------------------------


class ShelfwareStorage(ScimStorage):
    """scim2-server's storage over shelfware's accounts, in the caller's transaction
    (services never commit). ``actor``: how the audit trail names the provisioning token."""

    def __init__(
        self, session: Session, clock: Clock, *, role_map: dict[str, Role], actor: str
    ) -> None:
        self.session = session
        self.clock = clock
        self.roles = role_groups(role_map)
        self.actor = actor

    @contextmanager
    def operation(self) -> Iterator[None]:
        """One SCIM operation: a name taken meanwhile by a concurrent request (the unique
        index decides) is a uniqueness error, not a server error."""
        try:
            yield
        except IntegrityError:
            raise UniquenessException(
                detail="a user or group of this name (or this member) was just written by "
                "another request: read it and retry"
            ) from None

    # reads

    def _user_row(self, resource_id: str) -> UserRow:
        # locked to the end of the request: a PATCH reads then writes, two at once queue
        row = self.session.get(UserRow, _resource_id(resource_id), with_for_update=True)
        if row is None or not row.provisioned:
            raise NotFoundException(detail=f"no provisioned user with id {resource_id!r}")
        return row

    def _group_row(self, resource_id: str) -> ScimGroup:
        row = self.session.get(ScimGroup, _resource_id(resource_id), with_for_update=True)
        if row is None:
            raise NotFoundException(detail=f"no group with id {resource_id!r}")
        return row

    def _groups_of(self, user_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
        found: dict[int, list[tuple[int, str]]] = {uid: [] for uid in user_ids}
        if user_ids:
            rows = self.session.execute(
                select(ScimGroupMember.user_id, ScimGroup.id, ScimGroup.display_name)
                .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
                .where(ScimGroupMember.user_id.in_(user_ids))
                .order_by(ScimGroup.id)
            )
            for uid, gid, name in rows:
                found[uid].append((gid, name))
        return found

    def _members_of(self, group_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
        found: dict[int, list[tuple[int, str]]] = {gid: [] for gid in group_ids}
        if group_ids:
            rows = self.session.execute(
                select(ScimGroupMember.group_id, UserRow.id, UserRow.username)
                .join(UserRow, UserRow.id == ScimGroupMember.user_id)
                .where(ScimGroupMember.group_id.in_(group_ids))
                .order_by(UserRow.id)
            )
            for gid, uid, name in rows:
                found[gid].append((uid, name))
        return found

    def _users(self, rows: list[UserRow]) -> list[Resource[Any]]:
        groups = self._groups_of([r.id for r in rows])
        return [_user_resource(r, groups[r.id]) for r in rows]

    def _groups(self, rows: list[ScimGroup]) -> list[Resource[Any]]:
        members = self._members_of([r.id for r in rows])
        return [_group_resource(r, members[r.id]) for r in rows]

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if resource_type.name == USER:
            return self._users([self._user_row(resource_id)])[0]
        return self._groups([self._group_row(resource_id)])[0]

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        names = {rt.name for rt in resource_types}
        if len(names) != 1:
            raise NotImplementedException(detail="search /Users or /Groups, not the root")
        is_user = names == {USER}
        start = search_request.start_index_0 or 0
        count = MAX_RESULTS if search_request.count is None else search_request.count
        scim_filter = search_request.filter
        model: Any = UserRow if is_user else ScimGroup
        base = select(model).where(UserRow.provisioned.is_(True)) if is_user else select(model)
        where = _sql_equality(scim_filter, is_user)
        if scim_filter is None or where is not None:
            stmt = base if where is None else base.where(where)
            total = int(self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = list(self.session.scalars(stmt.order_by(model.id).offset(start).limit(count)))
            found = self._users(rows) if is_user else self._groups(rows)
            return SearchPage(total, found)
        # any other filter: evaluated on batches of resources, only the page is kept
        total = 0
        page: list[Resource[Any]] = []
        for batch in self._batches(base.order_by(model.id), is_user):
            for resource in batch:
                if scim_filter.match(resource):
                    if start <= total < start + count:
                        page.append(resource)
                    total += 1
        return SearchPage(total, page)

    def _batches(self, stmt: Any, is_user: bool) -> Iterator[list[Resource[Any]]]:
        last = 0
        model: Any = UserRow if is_user else ScimGroup
        while True:
            rows = list(self.session.scalars(stmt.where(model.id > last).limit(BATCH)))
            if not rows:
                return
            last = rows[-1].id
            yield self._users(rows) if is_user else self._groups(rows)

    # writes

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        if resource_type.name == USER:
            return self._create_user(resource)
        return self._create_group(resource)

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        if resource_type.name == USER:
            return self._update_user(resource)
        return self._update_group(resource)

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        if resource_type.name == USER:
            self._delete_user(self._user_row(resource_id))
        else:
            self._delete_group(self._group_row(resource_id))

    # users

    def _create_user(self, resource: Any) -> Resource[Any]:
        name = _user_name(resource)
        now = self.clock.now()
        row = self.session.scalar(
            select(UserRow).where(func.lower(UserRow.username) == name.lower())
        )
        if row is not None and (row.provisioned or row.password_hash is not None):
            raise UniquenessException(detail=f"a user named {row.username!r} already exists")
        adopted = row is not None
        if row is None:
            row = UserRow(
                username=name,
                password_hash=None,  # signs in through single sign-on only
                role=Role.VIEWER.value,
                active=True,
                created_at=now,
                password_changed_at=now,
            )
            self.session.add(row)
        row.provisioned = True
        self._write_user(row, resource)
        self.session.flush()
        audit.record(
            self.session,
            self.clock,
            action="user.scim_adopt" if adopted else "user.scim_create",
            object_type="user",
            object_id=row.id,
            actor=self.actor,
            username=row.username,
            role=row.role,
            active=row.active,
        )
        row.scim_active = resource.active
        if resource.active is False:
            self._set_active(row, False)
        return self._users([row])[0]

    def _write_user(self, row: UserRow, resource: Any) -> None:
        name = getattr(resource, "name", None)
        row.external_id = _text(resource.external_id, "externalId")
        row.display_name = _text(resource.display_name, "displayName")
        row.given_name = _text(getattr(name, "given_name", None), "name.givenName")
        row.family_name = _text(getattr(name, "family_name", None), "name.familyName")
        row.emails = _emails(resource)
        row.updated_at = self.clock.now()

    def _set_active(self, row: UserRow, active: bool) -> None:
        """Through the accounts service: a deactivation ends the user's sessions and revokes
        the tokens they own at once (audited there)."""
        accounts.set_user(self.session, self.clock, row.username, active=active, actor=self.actor)

    def _update_user(self, resource: Any) -> Resource[Any]:
        row = self._user_row(str(resource.id))
        name = _user_name(resource)
        if name != row.username:
            taken = self.session.scalar(
                select(UserRow.id).where(
                    func.lower(UserRow.username) == name.lower(), UserRow.id != row.id
                )
            )
            if taken is not None:
                raise UniquenessException(detail=f"a user named {name!r} already exists")
            audit.record(
                self.session,
                self.clock,
                action="user.scim_rename",
                object_type="user",
                object_id=row.id,
                actor=self.actor,
                username=[row.username, name],
            )
            row.username = name
        self._write_user(row, resource)
        row.scim_active = resource.active
        active = resource.active is not False
        if active != row.active:
            self._set_active(row, active)
        self.session.flush()
        return self._users([row])[0]

    def _delete_user(self, row: UserRow) -> None:
        if row.active:
            self._set_active(row, False)  # sessions ended, tokens revoked, audited
        audit.record(
            self.session,
            self.clock,
            action="user.scim_delete",
            object_type="user",
            object_id=row.id,
            actor=self.actor,
            username=row.username,
        )
        self.session.delete(row)
        self.session.flush()

    # groups

    def _group_name(self, resource: Any, own_id: int | None) -> str:
        name = (resource.display_name or "").strip()
        if not name or len(name) > 300 or "\x00" in name:
            raise InvalidValueException(detail="displayName: 1 to 300 characters")
        stmt = select(ScimGroup.id).where(func.lower(ScimGroup.display_name) == name.lower())
        if own_id is not None:
            stmt = stmt.where(ScimGroup.id != own_id)
        if self.session.scalar(stmt) is not None:
            raise UniquenessException(detail=f"a group named {name!r} already exists")
        return name

    def _member_ids(self, resource: Any) -> set[int]:
        members = resource.members or []
        if len(members) > MAX_MEMBERS_PER_REQUEST:
            raise InvalidValueException(detail=f"at most {MAX_MEMBERS_PER_REQUEST} members")
        wanted: set[int] = set()
        for member in members:
            if member.type not in (None, USER):
                raise InvalidValueException(detail="a group's members are users (no nesting)")
            value = str(member.value or "")
            if not value.isdigit() or len(value) > 18:
                raise InvalidValueException(detail=f"no provisioned user with id {value[:40]!r}")
            wanted.add(int(value))
        if wanted:
            known = set(
                self.session.scalars(
                    select(UserRow.id).where(UserRow.id.in_(wanted), UserRow.provisioned.is_(True))
                )
            )
            if missing := sorted(wanted - known):
                raise InvalidValueException(
                    detail=f"no provisioned user with id {missing[0]} (a member)"
                )
        return wanted

    def _create_group(self, resource: Any) -> Resource[Any]:
        now = self.clock.now()
        row = ScimGroup(
            display_name=self._group_name(resource, None),
            external_id=_text(resource.external_id, "externalId"),
            created_at=now,
            updated_at=now,
        )
        members = self._member_ids(resource)
        self.session.add(row)
        self.session.flush()
        self._audit_group(row, "group.scim_create", role=self._role_of_group(row.display_name))
        self._set_members(row, members)
        return self._groups([row])[0]

    def _update_group(self, resource: Any) -> Resource[Any]:
        row = self._group_row(str(resource.id))
        name = self._group_name(resource, row.id)
        members = self._member_ids(resource)
        renamed = name != row.display_name
        if renamed:
            self._audit_group(row, "group.scim_rename", renamed_to=name)
        row.display_name = name
        row.external_id = _text(resource.external_id, "externalId")
        row.updated_at = self.clock.now()
        before = self._set_members(row, members)
        if renamed:  # its role may have changed: every member's role follows
            self._recompute_roles(before | members)
        self.session.flush()
        return self._groups([row])[0]

    def _delete_group(self, row: ScimGroup) -> None:
        members = self._set_members(row, set())
        self._audit_group(row, "group.scim_delete")
        self.session.delete(row)
        self.session.flush()
        self._recompute_roles(members)

    def _audit_group(self, row: ScimGroup, action: str, **detail: Any) -> None:
        audit.record(
            self.session,
            self.clock,
            action=action,
            object_type="scim_group",
            object_id=row.id,
            actor=self.actor,
            display_name=row.display_name,
            **detail,
        )

    def _role_of_group(self, name: str) -> str | None:
        role = self.roles.get(name)
        return None if role is None else role.value

    def _set_members(self, row: ScimGroup, wanted: set[int]) -> set[int]:
        """Make ``wanted`` the group's members (set-based); the members it had. The roles
        of those who joined or left follow."""
        before = set(
            self.session.scalars(
                select(ScimGroupMember.user_id).where(ScimGroupMember.group_id == row.id)
            )
        )
        joined, left = wanted - before, before - wanted
        if left:
            self.session.execute(
                delete(ScimGroupMember)
                .where(ScimGroupMember.group_id == row.id, ScimGroupMember.user_id.in_(left))
                .execution_options(synchronize_session=False)
            )
        if joined:
            self.session.execute(
                insert(ScimGroupMember),
                [{"group_id": row.id, "user_id": uid} for uid in sorted(joined)],
            )
        if joined or left:
            row.updated_at = self.clock.now()
            self._audit_group(
                row,
                "group.scim_members",
                joined=sorted(joined)[:100],
                left=sorted(left)[:100],
            )
            self._recompute_roles(joined | left)
        return before

    def _recompute_roles(self, user_ids: Iterable[int]) -> None:
        """Each user's role: the highest their groups give (``viewer`` when none does).
        Through the accounts service, so a lowered role is audited and the tokens beyond
        it stop working."""
        ids = sorted(set(user_ids))
        groups = self._groups_of(ids)
        for uid in ids:
            row = self.session.get(UserRow, uid)
            if row is None:
                continue
            role = role_for_groups([name for _, name in groups[uid]], self.roles) or Role.VIEWER
            if role.value != row.role:
                accounts.set_user(
                    self.session, self.clock, row.username, role=role, actor=self.actor
                )


def _sql_equality(scim_filter: Any, is_user: bool) -> ColumnElement[bool] | None:
    """The SQL condition of ``attr eq "value"`` on a column shelfware keeps (the filters
    identity providers send to find a resource); None for any other filter."""
    if scim_filter is None:
        return None
    node = scim_filter.ast
    if (
        not isinstance(node, Comparison)
        or node.op != CompareOperator.eq
        or not isinstance(node.value, str)
        or node.attr_path.sub_attr is not None
    ):
        return None
    attr = node.attr_path.attr.lower()
    value = node.value
    if attr == "id":
        column = UserRow.id if is_user else ScimGroup.id
        wanted = int(value) if value.isdigit() and len(value) <= 18 else -1  # -1: no id
        return column == wanted
    if is_user and attr == "username":  # caseExact false
        return func.lower(UserRow.username) == value.lower()
    if is_user and attr == "externalid":  # caseExact true
        return UserRow.external_id == value
    if not is_user and attr == "displayname":
        return func.lower(ScimGroup.display_name) == value.lower()
    if not is_user and attr == "externalid":
        return ScimGroup.external_id == value
    return None
