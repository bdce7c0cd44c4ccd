"""Integration profile lifecycle: create (draft) -> validate -> publish; processes; delete.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.connectors.base import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorSettings,
    Process,
    ValidationReport,
)
from shelfware.connectors.registry import build_connector, connector_class
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.kit.netguard import (
    ALLOW_PRIVATE_ENV,
    host_refusal,
    is_loopback_host,
    private_urls_allowed,
)
from shelfware.kit.redact import is_credential_param, mask_url, register_secret
from shelfware.models import (
    Credential,
    IntegrationProfile,
    ProfileStatus,
    ReclamationRule,
    SoftwareModel,
    SyncRun,
)
from shelfware.profiles.schemas import (
    ConnectionChange,
    KeyRotation,
    LastSync,
    ProcessChange,
    Processes,
    ProfileCreate,
    ProfileView,
    RunView,
)
from shelfware.ranges import MAX_NAME, analyze_from_in_range

SPEC_OPTION = "spec"  # where a custom profile keeps its spec
AUTH_METHODS = ("api-token", "basic", "oauth")
# what a sign-in method's credential must hold (the names the connectors read), in words
AUTH_NEEDS = {
    "api-token": {"api_key": "the API token"},
    "basic": {"password": "the password"},
    "oauth": {"client_id": "the OAuth client id"},
}


def auth_methods(kind: str) -> tuple[str, ...]:
    """The sign-in methods a connector kind takes, its default first: an API token; a user
    name and password where the connector speaks basic authentication (``basic_auth``);
    OAuth where it has OAuth endpoints. An app registration (client id and secret) and a
    custom spec (its ``auth`` decides) sign in one way only."""
    cls = connector_class(kind)
    if kind == "custom" or getattr(cls, "client_credentials", False):
        return ("api-token",)
    methods = ["api-token"]
    if getattr(cls, "basic_auth", False):
        methods.append("basic")
    if getattr(cls, "oauth", None) is not None:
        methods.append("oauth")
    return tuple(methods)


def _change_auth(
    profile: IntegrationProfile, keys: KeyRing, clock: Clock, change: ConnectionChange
) -> str:
    """Move the profile to another sign-in method: the new method's whole credential is
    needed (nothing of the old one is kept); OAuth then needs an authorization."""
    new = str(change.auth)
    methods = auth_methods(profile.kind)
    if new not in methods:
        raise ProfileError(
            f"a {profile.kind} profile signs in with {' or '.join(methods)}, not {new!r}"
        )
    username = (change.username or profile.username) if new == "basic" else None
    missing = [words for name, words in AUTH_NEEDS[new].items() if not change.secrets.get(name)]
    if new == "basic" and not username:
        missing.insert(0, "the user name")
    if missing:
        raise ProfileError(f"signing in with {new} needs {' and '.join(missing)}")
    old, profile.auth, profile.username = profile.auth, new, username
    write_secrets(profile, keys, clock, dict(change.secrets))
    if profile.credential is not None:
        profile.credential.kind = new
    if profile.last_validation:  # an old "re-authorize" no longer applies
        profile.last_validation = {
            k: v for k, v in profile.last_validation.items() if k != "reauthorize"
        }
    return f"sign-in {old} -> {new}" + (" (authorize it next)" if new == "oauth" else "")


DEFAULT_ANALYZE_DAYS = 60
DEFAULT_THRESHOLD_DAYS = 60
REFRESH_EVERY = timedelta(days=1)


class ProfileError(Exception):
    """A profile operation was refused; the message says why and what to do."""


class ProfileNotFound(ProfileError):
    pass


def check_connection_url(url: str, *, allow_private: bool | None = None) -> str:
    """A connection URL: https:// to a public address, no credentials in it.

    Loopback, private, link-local and other non-public addresses (and plain http://, for
    loopback only) need ``SHELFWARE_ALLOW_PRIVATE_URLS=true`` (``allow_private``: that setting
    unless given). A host name is checked again on every connection, on the address it then
    resolves to (kit/netguard), so a name cannot turn private after this check.
    """
    if allow_private is None:
        allow_private = private_urls_allowed()
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        raise ProfileError(f"connection URL {mask_url(url)!r} is not a URL: {exc}") from None
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ProfileError("connection URL must not contain spaces or control characters")
    shown = mask_url(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProfileError(f"connection URL {shown!r} is not an absolute http(s) URL")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ProfileError(f"connection URL {shown!r} has no valid port (1..65535)")
    if parts.username or parts.password:
        raise ProfileError("connection URL must not carry credentials; use --secret-env")
    named = sorted(
        {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
        | ({parts.fragment.partition("=")[0]} if "=" in parts.fragment else set())
    )
    if credentials := [name for name in named if is_credential_param(name)]:
        raise ProfileError(
            f"connection URL carries a credential in its query ({', '.join(credentials)}): "
            "put the credential in --secret-env (the profile's encrypted credential), "
            "not in the URL"
        )
    why = host_refusal(parts.hostname)
    if why and not allow_private:
        raise ProfileError(
            f"connection URL {shown!r} names {why}: shelfware connects only to public "
            f"addresses unless {ALLOW_PRIVATE_ENV}=true (sandboxes, apps on a private network)"
        )
    if parts.scheme == "http" and not (allow_private and is_loopback_host(parts.hostname)):
        raise ProfileError(
            f"connection URL {shown!r} uses http://; only https:// is allowed "
            "(plain http only for loopback addresses such as 127.0.0.1 or localhost, "
            f"with {ALLOW_PRIVATE_ENV}=true)"
        )
    return url.rstrip("/")


def _analyze_from(value: datetime, created: datetime, now: datetime) -> datetime:
    try:
        return analyze_from_in_range(value, created, now)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None


def get_profile(session: Session, name: str) -> IntegrationProfile:
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ProfileNotFound(
            f"no integration profile named {name!r} (names are 1..{MAX_NAME} printable characters)"
        )
    profile = session.scalar(select(IntegrationProfile).where(IntegrationProfile.name == name))
    if profile is None:
        known = session.scalars(select(IntegrationProfile.name).order_by(IntegrationProfile.name))
        hint = ", ".join(known) or "none yet: create one with `shelfware profile create`"
        raise ProfileNotFound(f"no integration profile named {name!r} (profiles: {hint})")
    return profile


def list_profiles(session: Session) -> list[IntegrationProfile]:
    return list(session.scalars(select(IntegrationProfile).order_by(IntegrationProfile.name)))


def create_profile(
    session: Session, keys: KeyRing, clock: Clock, data: ProfileCreate
) -> IntegrationProfile:
    cls = connector_class(data.kind)  # raises with the known kinds listed
    if data.url is not None and not data.url.strip():
        raise ProfileError(
            "the connection URL is empty: give the app's URL, or leave --url out for the default"
        )
    by_region = getattr(cls, "default_url_for", None)
    url = data.url or (by_region(data.region) if by_region else getattr(cls, "default_url", None))
    if not url:
        raise ProfileError(f"a {data.kind} profile needs --url")
    url = check_connection_url(url)
    if session.scalar(select(IntegrationProfile.id).where(IntegrationProfile.name == data.name)):
        raise ProfileError(f"an integration profile named {data.name!r} already exists")
    if not data.secrets:
        raise ProfileError(f"a {data.kind} profile needs a credential (--secret-env VAR)")
    options: dict[str, Any] = dict(data.options)
    if data.spec is not None:
        options[SPEC_OPTION] = data.spec
    capabilities = capabilities_of(cls, options)  # a custom spec is read (and checked) here
    now = clock.now()
    analyze_from = (
        _analyze_from(data.analyze_activity_from, now, now)
        if data.analyze_activity_from is not None
        else now - timedelta(days=DEFAULT_ANALYZE_DAYS)
    )
    profile = IntegrationProfile(
        name=data.name,
        kind=data.kind,
        status=ProfileStatus.DRAFT,
        url=url,
        region=data.region,
        auth=data.auth,
        username=data.username,
        options=options,
        process_activity=data.activity and capabilities.activity,
        process_reclaim=data.reclaim and capabilities.reclaim,
        analyze_activity_from=analyze_from,
        created_at=now,
        updated_at=now,
        connection_changed_at=now,
    )
    profile.credential = Credential(
        kind=data.auth, ciphertext=keys.encrypt(json.dumps(data.secrets)), updated_at=now
    )
    session.add(profile)
    session.flush()
    audit.record(
        session,
        clock,
        action="profile.create",
        object_type="profile",
        object_id=profile.id,
        name=profile.name,
        kind=profile.kind,
    )
    return profile


def set_credential(
    session: Session,
    keys: KeyRing,
    clock: Clock,
    profile: IntegrationProfile,
    secrets: dict[str, str],
) -> None:
    """Replace the credential; the profile needs a fresh validation before (re)publishing."""
    write_secrets(profile, keys, clock, secrets)
    connection_changed(profile, clock.now())
    audit.record(
        session, clock, action="profile.credential", object_type="profile", object_id=profile.id
    )


def change_connection(
    session: Session,
    keys: KeyRing,
    clock: Clock,
    profile: IntegrationProfile,
    change: ConnectionChange,
) -> list[str]:
    """Change a draft or published profile's URL, region, user name, credential or options;
    returns what changed, in words (never a secret). Any change needs a fresh validation
    (the last one no longer counts) before the profile is published again or its next sync
    is trusted; the status stays as it is."""
    cls = connector_class(profile.kind)
    changes: list[str] = []
    new_auth = change.auth is not None and change.auth != profile.auth
    if new_auth:
        changes.append(_change_auth(profile, keys, clock, change))
    region = profile.region
    if change.region is not None and change.region != profile.region:
        if getattr(cls, "default_url_for", None) is None:
            raise ProfileError(f"a {profile.kind} profile has no region")
        region = profile.region = change.region
        changes.append(f"region {change.region}")
    if change.url is not None:
        by_region = getattr(cls, "default_url_for", None)
        wanted = change.url.strip() or (
            by_region(region) if by_region else getattr(cls, "default_url", None)
        )
        if not wanted:
            raise ProfileError(f"a {profile.kind} profile needs the app's URL")
        url = check_connection_url(wanted)
        if url != profile.url:
            profile.url = url
            changes.append(f"URL {mask_url(url)}")
    if change.username is not None and change.username != profile.username:
        if profile.auth != "basic":
            raise ProfileError(f"the profile signs in with {profile.auth}: it has no user name")
        profile.username = change.username
        changes.append(f"user name {change.username}")
    if change.options is not None:
        kept = {
            k: v
            for k, v in (profile.options or {}).items()
            if k == SPEC_OPTION or k.startswith("_")
        }
        plain = {k: v for k, v in (profile.options or {}).items() if k not in kept}
        if dict(change.options) != plain:
            options = {**dict(change.options), **kept}
            capabilities_of(cls, options)  # a custom spec's capabilities read again
            profile.options = options
            changes.append("options " + (", ".join(sorted(change.options)) or "cleared"))
    if change.secrets and not new_auth:
        secrets = {**secrets_of(profile, keys), **change.secrets}
        write_secrets(profile, keys, clock, secrets)
        changes.append("credential replaced (" + ", ".join(sorted(change.secrets)) + ")")
    if changes:
        connection_changed(profile, clock.now())
        audit.record(
            session,
            clock,
            action="profile.connection",
            object_type="profile",
            object_id=profile.id,
            changes=changes,
        )
        session.flush()
    return changes


def write_secrets(
    profile: IntegrationProfile, keys: KeyRing, clock: Clock, secrets: dict[str, str]
) -> None:
    """Encrypt and store a profile's secrets (the caller decides what else changes)."""
    now = clock.now()
    ciphertext = keys.encrypt(json.dumps(secrets))
    if profile.credential is None:
        profile.credential = Credential(kind=profile.auth, ciphertext=ciphertext, updated_at=now)
    else:
        profile.credential.ciphertext = ciphertext
        profile.credential.updated_at = now
    register_secret(*secrets.values())


def rotate_keys(session: Session, clock: Clock, ring: KeyRing) -> KeyRotation:
    """Re-encrypt every stored credential under the ring's newest key, with an audit event.

    Every key of ``ring`` must still decrypt the old secrets: keep the old keys in it.
    """
    count = 0
    for credential in session.scalars(select(Credential).order_by(Credential.id)):
        credential.ciphertext = ring.rotate(credential.ciphertext)
        credential.updated_at = clock.now()
        count += 1
    audit.record(
        session,
        clock,
        action="keys.rotate",
        object_type="key_ring",
        object_id="-",
        credentials=count,
        keys=len(ring.keys),
    )
    return KeyRotation(credentials=count, keys=len(ring.keys))


def connection_changed(profile: IntegrationProfile, now: Any) -> None:
    profile.connection_changed_at = now
    profile.updated_at = now
    profile.last_validation_ok = None


def secrets_of(profile: IntegrationProfile, keys: KeyRing) -> dict[str, str]:
    if profile.credential is None:
        return {}
    secrets = dict(json.loads(keys.decrypt(profile.credential.ciphertext)))
    register_secret(*secrets.values())  # scrubbed from every log line and error from now on
    return secrets


def connector_settings(profile: IntegrationProfile, keys: KeyRing) -> ConnectorSettings:
    return ConnectorSettings(
        url=profile.url,
        region=profile.region,
        auth=profile.auth,
        username=profile.username,
        secrets=secrets_of(profile, keys),
        options={str(k): str(v) for k, v in (profile.options or {}).items()},
    )


def open_connector(profile: IntegrationProfile, keys: KeyRing) -> Connector:
    return build_connector(profile.kind, connector_settings(profile, keys))


async def validate_profile(
    db: Database, keys: KeyRing, clock: Clock, name: str
) -> ValidationReport:
    """Call the profile's read APIs with its stored credential and record the outcome.

    Like a sync, this spans network calls, so it owns its (two short) transactions.
    """
    from shelfware.profiles.authorization import listen_for_rotations

    with db.sessions() as session:
        profile = get_profile(session, name)
        connector = open_connector(profile, keys)
        listen_for_rotations(connector, db, keys, clock, profile.id)
        activity_on = profile.process_activity
    try:
        report = await connector.validate()
    finally:
        await connector.aclose()
    if not activity_on:  # a process that is off cannot fail the validation
        report = replace(
            report,
            checks=tuple(
                CheckResult(c.name, True, f"not used (the activity process is off): {c.detail}")
                if c.name == Process.ACTIVITY.value and not c.ok
                else c
                for c in report.checks
            ),
        )
    with db.transaction() as session:
        record_validation(session, clock, get_profile(session, name), report)
    return report


def record_validation(
    session: Session, clock: Clock, profile: IntegrationProfile, report: ValidationReport
) -> None:
    now = clock.now()
    profile.last_validated_at = now
    profile.last_validation_ok = report.ok
    profile.last_validation = {
        "ok": report.ok,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
        "facts": dict(report.facts),
        "credential_owner": report.credential_owner.username if report.credential_owner else None,
    }
    if report.credential_owner is not None:
        profile.credential_owner_external_id = report.credential_owner.external_id
    audit.record(
        session,
        clock,
        action="profile.validate",
        object_type="profile",
        object_id=profile.id,
        ok=report.ok,
    )


def ensure_software_model(
    session: Session,
    clock: Clock,
    publisher: str,
    product: str,
    edition: str,
    *,
    paid: bool = True,
) -> SoftwareModel:
    """The software model for publisher/product/edition, with its default rule.

    An unpaid edition (Asana guests) is created with a list price of 0 and an inactive rule:
    its seats cost nothing, so they are never removal candidates unless someone says so."""
    model = session.scalar(
        select(SoftwareModel).where(
            SoftwareModel.publisher == publisher,
            SoftwareModel.product == product,
            SoftwareModel.edition == edition,
        )
    )
    if model is None:
        model = SoftwareModel(
            publisher=publisher,
            product=product,
            edition=edition,
            created_at=clock.now(),
            list_price=None if paid else Decimal(0),
        )
        session.add(model)
        session.flush()
        rule = ensure_default_rule(session, clock, model)
        rule.active = paid
        return model
    ensure_default_rule(session, clock, model)
    return model


def ensure_default_rule(
    session: Session, clock: Clock, model: SoftwareModel, kind: str = "remove"
) -> ReclamationRule:
    """The model's rule of ``kind`` (removal by default), created with the defaults if missing
    (a new downgrade rule selects nothing until its target and thresholds are set)."""
    rule = session.scalar(
        select(ReclamationRule).where(
            ReclamationRule.software_model_id == model.id, ReclamationRule.kind == kind
        )
    )
    if rule is None:
        now = clock.now()
        rule = ReclamationRule(
            software_model_id=model.id,
            kind=kind,
            threshold_days=DEFAULT_THRESHOLD_DAYS,
            exclude_admins=True,
            new_account_grace=True,
            created_at=now,
            updated_at=now,
        )
        session.add(rule)
        session.flush()
    return rule


def capabilities_of(cls: type[Connector], options: Mapping[str, Any]) -> Capabilities:
    """What a profile can do: the kind's capabilities, or (custom specs) what its spec offers."""
    of_profile = getattr(cls, "profile_capabilities", None)
    if of_profile is None:
        return cls.capabilities
    capabilities: Capabilities = of_profile({str(k): str(v) for k, v in options.items()})
    return capabilities


def model_identity(cls: type[Connector], profile: IntegrationProfile) -> tuple[str, str, str]:
    """The software model a profile's seats belong to: the connector's own, or (generic
    connectors such as SCIM) one the profile's options name."""
    identity = getattr(cls, "model_identity", None)
    if identity is None:
        return cls.publisher, cls.product, cls.default_edition
    options = {str(k): str(v) for k, v in (profile.options or {}).items()}
    publisher, product, edition = identity(profile.url, options)
    return str(publisher), str(product), str(edition)


def publish_profile(session: Session, clock: Clock, profile: IntegrationProfile) -> None:
    """Publish: needs a passing validation since the connection or credential last changed."""
    if profile.status == ProfileStatus.PUBLISHED:
        return
    if profile.last_validated_at is None:
        raise ProfileError(
            f"profile {profile.name!r} has never been validated: "
            f"run `shelfware profile validate {profile.name}` first"
        )
    if profile.last_validated_at < profile.connection_changed_at:
        raise ProfileError(
            f"the connection or credential of {profile.name!r} changed after the last "
            f"validation: run `shelfware profile validate {profile.name}` again"
        )
    if not profile.last_validation_ok:
        raise ProfileError(
            f"the last validation of {profile.name!r} failed: fix the connection or credential "
            f"and run `shelfware profile validate {profile.name}`"
        )
    cls = connector_class(profile.kind)
    if not getattr(cls, "models_from_records", False):
        # a connector whose every seat names its own model (one per SKU: Microsoft 365,
        # Google Workspace) gets its models from the sync; a default one would stay empty
        publisher, product, edition = model_identity(cls, profile)
        ensure_software_model(session, clock, publisher, product, edition)
    now = clock.now()
    profile.status = ProfileStatus.PUBLISHED
    profile.published_at = now
    profile.updated_at = now
    profile.next_refresh_at = now
    audit.record(
        session, clock, action="profile.publish", object_type="profile", object_id=profile.id
    )


def set_processes(
    session: Session,
    clock: Clock,
    profile: IntegrationProfile,
    *,
    activity: bool | None = None,
    reclaim: bool | None = None,
    analyze_from: Any = None,
) -> list[str]:
    """Turn processes on or off; returns what changed, in words."""
    checked = ProcessChange(activity=activity, reclaim=reclaim, analyze_from=analyze_from)
    activity, reclaim, analyze_from = checked.activity, checked.reclaim, checked.analyze_from
    capabilities = capabilities_of(connector_class(profile.kind), profile.options or {})
    changes: list[str] = []
    if activity is not None and activity != profile.process_activity:
        if activity and not capabilities.activity:
            raise ProfileError(f"{profile.kind} has no user activity API to pull from")
        profile.process_activity = activity
        changes.append(f"pull user activity {'on' if activity else 'off'}")
        if not activity and profile.status == ProfileStatus.PUBLISHED:
            profile.status = ProfileStatus.DRAFT
            changes.append("status back to draft (publish again to resume refreshes)")
    if reclaim is not None and reclaim != profile.process_reclaim:
        if reclaim and not capabilities.reclaim:
            raise ProfileError(f"{profile.kind} cannot reclaim through its API")
        profile.process_reclaim = reclaim
        changes.append(f"reclaim subscriptions {'on' if reclaim else 'off'}")
    if analyze_from is not None:
        analyze_from = _analyze_from(analyze_from, profile.created_at, clock.now())
    if analyze_from is not None and analyze_from != profile.analyze_activity_from:
        profile.analyze_activity_from = analyze_from
        changes.append(f"analyze user activity from {analyze_from:%Y-%m-%d}")
    if changes:
        profile.updated_at = clock.now()
        audit.record(
            session,
            clock,
            action="profile.set",
            object_type="profile",
            object_id=profile.id,
            changes=changes,
        )
    return changes


def delete_profile(session: Session, clock: Clock, profile: IntegrationProfile) -> None:
    audit.record(
        session,
        clock,
        action="profile.delete",
        object_type="profile",
        object_id=profile.id,
        name=profile.name,
    )
    session.delete(profile)


def shown_options(options: dict[str, Any]) -> dict[str, Any]:
    """A profile's options as views show them: a custom spec by its app, attachments by their
    summary (their data can be large), never the data itself."""
    shown: dict[str, Any] = {}
    for key, value in options.items():
        if key == SPEC_OPTION:
            shown[key] = "custom spec (see `profile validate` for the mapped records)"
        elif key.startswith("_"):
            if isinstance(value, dict):
                shown[key.lstrip("_")] = value  # an attachment's summary
        else:
            shown[key] = value
    return shown


def last_sync(session: Session, profile: IntegrationProfile) -> SyncRun | None:
    return session.scalar(
        select(SyncRun)
        .where(SyncRun.profile_id == profile.id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    )


def view(session: Session, profile: IntegrationProfile) -> ProfileView:
    run = last_sync(session, profile)
    return ProfileView(
        name=profile.name,
        kind=profile.kind,
        status=profile.status,
        url=mask_url(profile.url),
        region=profile.region,
        auth=profile.auth,
        username=profile.username,
        processes=Processes(
            download=True, activity=profile.process_activity, reclaim=profile.process_reclaim
        ),
        analyze_activity_from=profile.analyze_activity_from,
        last_validated_at=profile.last_validated_at,
        last_validation_ok=profile.last_validation_ok,
        last_validation=profile.last_validation,
        credential_owner=(profile.last_validation or {}).get("credential_owner"),
        has_credential=profile.credential is not None,
        last_sync=LastSync(
            id=run.id,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            accounts=run.accounts,
            error=run.error,
        )
        if run
        else None,
        next_refresh_at=profile.next_refresh_at,
        options=shown_options(profile.options or {}),
    )


def list_runs(
    session: Session,
    profile: IntegrationProfile | None,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> list[RunView]:
    """A profile's sync runs (every profile's with ``None``), newest first (``before_id``: the
    page after that run)."""
    stmt = select(SyncRun, IntegrationProfile.name).join(
        IntegrationProfile, IntegrationProfile.id == SyncRun.profile_id
    )
    if profile is not None:
        stmt = stmt.where(SyncRun.profile_id == profile.id)
    if before_id is not None:
        stmt = stmt.where(SyncRun.id < before_id)
    runs = session.execute(stmt.order_by(SyncRun.id.desc()).limit(limit))
    return [
        RunView(
            id=run.id,
            profile=name,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            pages=run.pages,
            requests=run.requests,
            retries=run.retries,
            accounts=run.accounts,
            created=run.created,
            updated=run.updated,
            gone=run.gone,
            activity_updates=run.activity_updates,
            candidates_created=run.candidates_created,
            candidates_canceled=run.candidates_canceled,
            candidates_closed=run.candidates_closed,
            error=run.error,
            cleaned=run.cleaned or {},
        )
        for run, name in runs
    ]
