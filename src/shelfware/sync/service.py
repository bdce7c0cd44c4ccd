"""The sync pipeline: download -> staging -> switch-over -> activity -> rule evaluation.

Guarantees (DOMAIN.md, "known hard parts"):

- one active run per profile: a second sync is refused at once (a plain read, before any write
  lock), a partial unique index on ``sync_run`` is the final guard;
- pages are staged under the run id as they arrive (bounded memory, batch inserts), and
  nothing a user sees changes until the whole download succeeded;
- the switch-over (people, changed accounts updated, new ones inserted, gone-marking, activity
  watermark, rule evaluation) is one transaction, all set-based SQL whose cost grows with the
  rows of the run, and a re-sync of unchanged data writes no subscription or candidate row;
- last activity only moves forward;
- a failed run leaves subscriptions, candidates and the watermark exactly as they were, and its
  record says which page failed and why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import marshal
import operator
import os
import socket
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.connectors.base import (
    AccountPage,
    AccountRecord,
    ActivitySource,
    Connector,
    EntitlementRecord,
    IdentityProvider,
    KnownAccounts,
    PageError,
    PersonRecord,
    SeatsOwnedSource,
    SnapshotError,
)
from shelfware.connectors.registry import connector_class
from shelfware.connectors.toolkit import ReauthorizationRequired, source_digest
from shelfware.directory import service as directory
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import (
    Database,
    UTCDateTime,
    bulk_insert,
    driver_instant,
    insert_checking_references_once,
    insert_for,
    large_cache,
    plain_rows,
    refresh_statistics,
    rowcount,
)
from shelfware.kit.text import EARLIEST, LATEST, Cleaner, strip_unstorable
from shelfware.licensing import entitlements as licensing_entitlements
from shelfware.models import (
    IntegrationProfile,
    Person,
    ProfileStatus,
    RunStatus,
    SoftwareModel,
    StagedAccount,
    Subscription,
    SyncRun,
)
from shelfware.profiles import authorization
from shelfware.profiles import service as profiles
from shelfware.reclamation.evaluation import GROUP_TASK, evaluate_profile
from shelfware.sync import activity_days
from shelfware.sync.cleaning import (
    ACCOUNT_LENGTHS,
    KEY_LENGTH,
    account_fields,
    clean_activity,
    clean_person,
)
from shelfware.sync.schemas import NoProgress, SyncProgress, SyncSummary

S = Subscription.__table__.c
ST = StagedAccount.__table__.c
M = SoftwareModel.__table__.c
# ``__table__`` is typed as a FromClause; DML needs to know it is a Table.
SUBSCRIPTIONS: Table = cast(Table, Subscription.__table__)
STAGED_ACCOUNTS: Table = cast(Table, StagedAccount.__table__)

ConnectorOpener = Callable[[IntegrationProfile, KeyRing], Connector]


class SyncError(Exception):
    """A sync could not run or did not finish; nothing was changed."""

    def __init__(self, message: str, summary: SyncSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class _Run:
    id: int
    profile_id: int
    profile_name: str
    started_at: datetime


def run_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer exists."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # a killed process nobody has waited for yet is a zombie: it still answers signal 0
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (command) state ...": the command may itself hold ") ", so split at the last one
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def _running_run(db: Database, name: str) -> SyncRun | None:
    with db.sessions() as session:
        profile = profiles.get_profile(session, name)
        return session.scalar(
            select(SyncRun).where(
                SyncRun.profile_id == profile.id, SyncRun.status == RunStatus.RUNNING
            )
        )


def _already_running(name: str, other: SyncRun | None) -> SyncError:
    detail = f" (run {other.id}, started {other.started_at:%Y-%m-%d %H:%M} UTC)" if other else ""
    return SyncError(f"a sync of profile {name!r} is already running{detail}")


def _open_run(db: Database, clock: Clock, name: str) -> _Run:
    """Record a new running run, or refuse at once when one is running.

    The running run is looked for with a plain read first: on SQLite the write below would
    otherwise wait for the write lock of a run inside its switch-over, and then start a
    second full sync. The partial unique index stays the final guard against a race."""
    for attempt in range(2):
        other = _running_run(db, name)
        if other is not None:
            if attempt == 0 and _reap_abandoned(db, clock, name):
                continue
            raise _already_running(name, other)
        try:
            with db.transaction() as session:
                profile = profiles.get_profile(session, name)
                if profile.status != ProfileStatus.PUBLISHED:
                    raise SyncError(
                        f"profile {name!r} is a draft: validate and publish it first "
                        f"(`shelfware profile validate {name}` then `shelfware profile publish "
                        f"{name}`)"
                    )
                run = SyncRun(
                    profile_id=profile.id,
                    status=RunStatus.RUNNING,
                    started_at=clock.now(),
                    owner=run_owner(),
                )
                session.add(run)
                session.flush()
                return _Run(run.id, profile.id, profile.name, run.started_at)
        except IntegrityError:
            if attempt == 0 and _reap_abandoned(db, clock, name):
                continue
            raise _already_running(name, _running_run(db, name)) from None
    raise _already_running(name, _running_run(db, name))


def _reap_abandoned(db: Database, clock: Clock, name: str) -> bool:
    """Fail a running run whose process on this host is gone; True when one was reaped."""
    with db.transaction() as session:
        profile = profiles.get_profile(session, name)
        run = session.scalar(
            select(SyncRun).where(
                SyncRun.profile_id == profile.id, SyncRun.status == RunStatus.RUNNING
            )
        )
        if run is None or not _owner_is_dead(run.owner):
            return False
        run.status = RunStatus.FAILED
        run.finished_at = clock.now()
        run.error = f"abandoned: the process {run.owner} that ran it is gone"
        _discard_staged(session.connection(), run.id)
        return True


GONE_BATCH = 900  # ids per statement marking accounts gone (SQLite: at most 999 parameters)
BULK_ROWS = 5000  # from this many rows on, refresh planner statistics after bulk writes

# The account's shape, derived from the record type the connectors produce: the staging
# table, the staged rows, the upsert and its change test all follow it.
ACCOUNT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AccountRecord))
_ACCOUNT_TYPES = typing.get_type_hints(AccountRecord)
INSTANT_FIELDS = frozenset(
    name
    for name in ACCOUNT_FIELDS
    if _ACCOUNT_TYPES[name] is datetime or datetime in typing.get_args(_ACCOUNT_TYPES[name])
)
STAGED_COLUMNS = ["run_id", *ACCOUNT_FIELDS, "fingerprint"]
STAGED_INSTANTS = frozenset(i for i, name in enumerate(STAGED_COLUMNS) if name in INSTANT_FIELDS)
# Written on every change of the account; the key is matched, activity only moves forward.
TRACKED_FIELDS = (
    "software_model_id",
    *(name for name in ACCOUNT_FIELDS if name not in ("external_id", "last_activity_at")),
    "person_id",
    "fingerprint",
)
_account_values = operator.attrgetter(*ACCOUNT_FIELDS)
_EDITION = ACCOUNT_FIELDS.index("edition")
_PRODUCT = ACCOUNT_FIELDS.index("product")
# Vendor text cleaned before staging (sync/cleaning.py): positions with their column's length
_TEXT_FIELDS, _INSTANT_FIELDS = account_fields(ACCOUNT_FIELDS, INSTANT_FIELDS)


# changed with what a fingerprint covers (and marshal's format): every account is staged again
FINGERPRINT_VERSION = b"1.%d" % marshal.version
_INSTANT_POSITIONS = tuple(i for i, _ in _INSTANT_FIELDS)


def account_fingerprint(values: list[Any], salt: bytes = b"") -> int:
    """A stable 64-bit hash of an account's staged values (as cleaned, with the connector's
    defaults) and of `salt` (what else decides how they are written). Stable across processes
    (not Python's ``hash``): ``marshal`` tells apart None, booleans, numbers and text, and an
    instant is hashed as its ISO text (exact, with its offset). A few microseconds a row."""
    hashed = values.copy()
    for i in _INSTANT_POSITIONS:
        value = hashed[i]
        if value is not None:
            hashed[i] = value.isoformat()
    digest = hashlib.blake2b(FINGERPRINT_VERSION + salt + marshal.dumps(hashed), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class StoredAccounts(KnownAccounts):
    """The profile's accounts not gone as they were before this run: external id -> the
    fingerprint of what its last sync staged, or None where it must be staged again (no
    fingerprint yet, or an email but no person). A downloaded account is taken out of it, so
    once the whole download succeeded what is left is what the app no longer lists.

    A connector that fingerprints its raw records (`HttpConnector.skip_unchanged`) takes the
    unchanged ones out itself, before mapping; `unrecognised` (the stored accounts' unknown
    vendor values) lets the run still count those among its unrecognised accounts."""

    def __init__(
        self,
        fingerprints: dict[str, int | None] | None = None,
        salt: bytes = b"",
        unrecognised: dict[str, str] | None = None,
    ) -> None:
        super().__init__(fingerprints)
        self.salt = salt
        self.unrecognised = unrecognised or {}
        self.unchanged_unrecognised: list[str] = []
        # unchanged accounts found by comparing mapped records (the staging thread's count;
        # `skipped` is the connector's, on the event loop: two counters, no shared write)
        self.compared = 0

    @property
    def unchanged(self) -> int:
        return self.skipped + self.compared

    def take_unchanged(self, external_ids: list[str]) -> None:
        super().take_unchanged(external_ids)
        if self.unrecognised:
            unknown = self.unrecognised
            self.unchanged_unrecognised.extend(unknown[i] for i in external_ids if i in unknown)


def _stored_accounts(connection: Connection, profile_id: int, salt: bytes) -> StoredAccounts:
    must_restage = and_(S.person_id.is_(None), S.email.like("%_@_%"))
    query = select(
        S.external_id, case((must_restage, null()), else_=S.fingerprint), S.unrecognised
    ).where(S.profile_id == profile_id, S.gone_at.is_(None))
    fingerprints: dict[str, int | None] = {}
    unrecognised: dict[str, str] = {}
    for key, fingerprint, unknown in plain_rows(connection, query):  # 100,000s of rows
        fingerprints[key] = fingerprint
        if unknown is not None:
            unrecognised[key] = unknown
    return StoredAccounts(fingerprints, salt, unrecognised)


# What a raw-record fingerprint covers besides the vendor's values and the mapping's code:
# this module and the cleaning (how values are made storable and staged), the columns'
# lengths; a change of any of them stages every account again.
SYNC_CODE = (
    source_digest(__name__, "shelfware.sync.cleaning", "shelfware.kit.text")
    + repr(sorted(ACCOUNT_LENGTHS.items())).encode()
)


def _source_seed(connector: Connector, salt: bytes) -> bytes:
    """The start of every raw-record fingerprint of a run (toolkit/fingerprints.py)."""
    defaults = f"{connector.default_edition}\x1f{connector.product}".encode()
    return b"|".join((FINGERPRINT_VERSION, salt, defaults, SYNC_CODE))


_MISSING = object()


def _takes_activity(profile: IntegrationProfile, connector: Connector) -> bool:
    """The account's own activity field is taken (not an event log, not an identity provider)."""
    return profile.process_activity and (
        connector.capabilities.activity_source == ActivitySource.ACCOUNT_FIELD
    )


def _fingerprint_salt(profile: IntegrationProfile, connector: Connector) -> bytes:
    """What decides how unchanged vendor values are written, besides the values: whether the
    account's activity field is taken (switching it must stage every account again)."""
    return b"A" if _takes_activity(profile, connector) else b"-"


def _staged_rows(
    run_id: int,
    page: list[AccountRecord],
    default_edition: str,
    seen: set[str],
    default_product: str = "",
    cleaner: Cleaner | None = None,
    stored: StoredAccounts | None = None,
    instant_form: Callable[[datetime], Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Staging rows for a page; an account already seen in this run is kept once (the first).
    An account without an edition or product has the connector's. Every value is made
    storable (`cleaner` counts what changed); an account whose id cannot be stored as it is
    is left out. With `stored`, an account whose fingerprint is the stored one is not staged
    (counted as unchanged), and every downloaded account is taken out of `stored`. With
    `instant_form` (`kit.db.driver_instant`), instants are given in the driver's form, ready
    for `bulk_insert` without a second pass over the rows (the staging thread shares the GIL
    with the download)."""
    cleaner = cleaner if cleaner is not None else Cleaner()
    text, instant = cleaner.text, cleaner.instant
    fingerprints = stored.fingerprints if stored is not None else {}
    salt = stored.salt if stored is not None else b""
    unchanged = 0
    rows = []
    # a connector that fingerprints its raw records left out the unchanged and repeated ones
    source = page.fingerprints if isinstance(page, AccountPage) else None
    for index, record in enumerate(page):
        if source is None:
            if record.external_id in seen:
                continue
            seen.add(record.external_id)
        if not cleaner.usable_key("external_id", record.external_id, KEY_LENGTH):
            continue
        values = list(_account_values(record))
        if values[_EDITION] is None:
            values[_EDITION] = default_edition
        if values[_PRODUCT] is None:
            values[_PRODUCT] = default_product
        for i, name, limit in _TEXT_FIELDS:  # the common case: one C-level check per value
            value = values[i]
            if value is not None and not (len(value) <= limit and value.isprintable()):
                values[i] = text(name, value, limit)
        for i, name in _INSTANT_FIELDS:
            value = values[i]
            if value is not None and (value.tzinfo is None or not EARLIEST <= value < LATEST):
                values[i] = instant(name, value)
        fingerprint = account_fingerprint(values, salt) if source is None else source[index]
        if fingerprints.pop(record.external_id, _MISSING) == fingerprint:
            unchanged += 1
            continue
        if instant_form is not None:
            for i in _INSTANT_POSITIONS:
                value = values[i]
                if value is not None:
                    values[i] = instant_form(value)
        rows.append((run_id, *values, fingerprint))
    if stored is not None:
        stored.compared += unchanged
    return rows


def _write_staged(db: Database, rows: list[tuple[Any, ...]], summary: SyncSummary) -> None:
    """Write staged rows whose instants are in the driver's form already (`_staged_rows`)."""
    started = time.perf_counter()
    with db.engine.begin() as connection:
        bulk_insert(connection, StagedAccount.__table__, STAGED_COLUMNS, rows)
    summary.staging_seconds += time.perf_counter() - started


def _discard_staged(connection: Connection, run_id: int) -> None:
    connection.execute(delete(STAGED_ACCOUNTS).where(ST.run_id == run_id))


async def _download(
    db: Database,
    run: _Run,
    connector: Connector,
    progress: SyncProgress,
    summary: SyncSummary,
    cleaner: Cleaner,
    stored: StoredAccounts | None = None,
) -> None:
    """Stream pages into staging. A page is cleaned, compared with the stored fingerprints and
    its changed accounts written in a worker thread (the driver releasing the GIL), off the
    event loop, while the next pages are fetched and decoded; the connector fetches ahead."""
    default_edition = connector.default_edition
    default_product = connector.product
    stored = stored if stored is not None else StoredAccounts()
    pages = 0
    seen: set[str] = set()
    writing: asyncio.Future[None] | None = None

    instant_form = driver_instant(db.engine.dialect.name)

    def stage(page: list[AccountRecord]) -> None:
        compared = stored.compared
        rows = _staged_rows(
            run.id, page, default_edition, seen, default_product, cleaner, stored, instant_form
        )
        summary.accounts += len(rows) + stored.compared - compared
        _count_unrecognised(page, summary)
        if rows:
            _write_staged(db, rows, summary)

    try:
        async for page in connector.accounts():
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(asyncio.to_thread(stage, page))
            pages += 1
            progress.pages(pages, summary.accounts + stored.skipped, connector.expected_total)
        if writing is not None:
            await writing
        # the accounts the connector found unchanged were never staged nor mapped
        summary.accounts += stored.skipped
        stored.seen = set()  # 100,000s of ids, not needed past the download
        summary.unchanged = stored.unchanged
        count_unrecognised(stored.unchanged_unrecognised, summary)
    finally:
        if writing is not None and not writing.done():
            # a thread cannot be cancelled: let the write finish before staging is discarded
            await asyncio.shield(writing)
    summary.pages = pages


MAX_UNRECOGNISED_SHOWN = 20


def _count_unrecognised(page: list[AccountRecord], summary: SyncSummary) -> None:
    """Count the accounts whose role or status the connector did not know (never candidates)
    and keep the first few distinct values for the run's report."""
    count_unrecognised((record.unrecognised for record in page), summary)


def count_unrecognised(values: Iterable[str | None], summary: SyncSummary) -> None:
    for unknown in values:
        if unknown:
            summary.unrecognised += 1
            for value in unknown.split("; "):
                shown = summary.unrecognised_values
                if value not in shown and len(shown) < MAX_UNRECOGNISED_SHOWN:
                    shown.append(value)


async def _collect_activity(
    connector: Connector,
    since: datetime,
    until: datetime,
    cleaner: Cleaner | None = None,
    days: activity_days.DayCounts | None = None,
) -> dict[str, datetime]:
    """Latest activity per account from an event log (reduced as it streams); an event at an
    instant outside 1970..2999 is left out (counted by `cleaner`). ``days``: also counts the
    events per account and day (what downgrade rules measure)."""
    cleaner = cleaner if cleaner is not None else Cleaner()
    latest: dict[str, datetime] = {}
    async for page in connector.activity(since, until):
        for event in page:
            at = clean_activity(cleaner, event)
            if at is None:
                continue
            if days is not None:
                days[(event.external_id, activity_days.day_of(at))] += 1
            seen = latest.get(event.external_id)
            if seen is None or at > seen:
                latest[event.external_id] = at
    return latest


def _ensure_models(session: Session, run: _Run, connector: Connector, clock: Clock) -> None:
    """Software models (and default rules) for every product and edition a run saw; a new
    model's rule takes the connector's default threshold where it has one (SSO: 30 days)."""
    seen = session.execute(select(ST.product, ST.edition).where(ST.run_id == run.id).distinct())
    threshold: int | None = getattr(connector, "default_threshold_days", None)
    for product, edition in seen.all():
        existed = session.scalar(
            select(M.id).where(
                M.publisher == connector.publisher, M.product == product, M.edition == edition
            )
        )
        model = profiles.ensure_software_model(
            session,
            clock,
            connector.publisher,
            product,
            edition,
            paid=edition not in getattr(connector, "unpaid_editions", frozenset()),
        )
        if existed is None and threshold is not None:
            rule = profiles.ensure_default_rule(session, clock, model)
            rule.threshold_days = threshold


# The columns the switch-over and rule evaluation filter, join or group on: after a bulk
# write only their statistics are refreshed in the run (the long text columns' cost most of
# an ANALYZE; autovacuum refreshes every column after the commit).
PLANNED_STAGED_COLUMNS = ("run_id", "external_id", "email", "product", "edition")
PLANNED_ACCOUNT_COLUMNS = (
    "profile_id",
    "software_model_id",
    "person_id",
    "active",
    "admin",
    "gone_at",
    "last_activity_at",
    "created_in_app_at",
    "first_seen_at",
    "group_scoped",
    "unrecognised",
    "kept_until",
)


@contextmanager
def _indexes_built_after(connection: Connection, rows: int) -> Iterator[None]:
    """On SQLite, when a sync inserts at least as many accounts as the subscription table holds
    (a first sync of a big app), its secondary indexes are dropped before the insert and
    built again after it, in the same transaction (readers keep their snapshot): one sorted
    build costs a fraction of keeping a dozen indexes up to date row by row (measured: most of
    a 100,000-user first sync's switch-over). The unique key the insert matches stays."""
    if connection.dialect.name != "sqlite" or rows < BULK_ROWS:
        yield
        return
    held = connection.exec_driver_sql("SELECT max(id) FROM subscription").scalar() or 0
    if rows < held:
        yield
        return
    indexes = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subscription'"
        " AND sql IS NOT NULL AND upper(sql) NOT LIKE 'CREATE UNIQUE%'"
    ).all()
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        # the driver opens a transaction before DML only: DDL first would commit on its own
        connection.exec_driver_sql("BEGIN")
    for name, _ in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _, sql in indexes:
        connection.exec_driver_sql(sql)


def _switch_over(
    session: Session,
    run: _Run,
    connector: Connector,
    activity: dict[str, datetime] | None,
    people: list[PersonRecord] | None,
    now: datetime,
    summary: SyncSummary,
    clock: Clock,
    progress: SyncProgress,
    stored: StoredAccounts,
    days: tuple[activity_days.DayCounts, datetime] | None = None,
) -> None:
    profile = session.get_one(IntegrationProfile, run.profile_id)
    dialect = session.get_bind().dialect.name
    # 1. software models (and default rules) for every product and edition seen
    _ensure_models(session, run, connector, clock)
    # 2. an identity provider's people (with status), then people for new emails; the writes
    # below link accounts to them
    if people is not None:
        summary.people = directory.import_people(session, run.profile_id, people, now)
    if directory.add_people_from_run(session, run.id, now) >= BULK_ROWS:
        refresh_statistics(session.connection(), "person")
    # 3. known accounts whose data changed (only those rows are written), activity forward
    take_activity = _takes_activity(profile, connector)
    now_sql = literal(now, UTCDateTime())
    staged = StagedAccount.__table__.join(
        SoftwareModel.__table__,
        and_(
            M.publisher == connector.publisher,
            M.product == ST.product,
            M.edition == ST.edition,
        ),
    ).outerjoin(Person.__table__, directory.person_join_condition(session))
    account_values = [
        (null() if name == "last_activity_at" and not take_activity else ST[name]).label(name)
        for name in (*ACCOUNT_FIELDS, "fingerprint")
    ]
    model_id = M.id.label("software_model_id")
    person_id = Person.__table__.c.id.label("person_id")
    table = SUBSCRIPTIONS
    known_before = session.scalar(select(exists().where(S.profile_id == run.profile_id)))
    summary.updated = 0
    if known_before:
        incoming = (
            select(model_id, *account_values, person_id)
            .select_from(staged)
            .where(ST.run_id == run.id)
            .subquery("incoming")
        )
        forward_activity = (
            case(
                (
                    or_(
                        S.last_activity_at.is_(None),
                        incoming.c.last_activity_at > S.last_activity_at,
                    ),
                    incoming.c.last_activity_at,
                ),
                else_=S.last_activity_at,
            )
            if take_activity
            else S.last_activity_at
        )
        changed = or_(
            *(S[name].is_distinct_from(incoming.c[name]) for name in TRACKED_FIELDS),
            S.gone_at.is_not(None),
            forward_activity.is_distinct_from(S.last_activity_at),
        )
        statement = (
            update(table)
            .where(
                S.profile_id == run.profile_id,
                S.external_id == incoming.c.external_id,
                changed,
            )
            .values(
                **{name: incoming.c[name] for name in TRACKED_FIELDS},
                last_activity_at=forward_activity,
                gone_at=None,
                last_seen_at=None,
            )
        )
        summary.updated = rowcount(session.execute(statement)) or 0
    # 4. accounts not known yet
    known = exists().where(S.profile_id == run.profile_id, S.external_id == ST.external_id)
    # written since the last rule evaluation; with none yet the evaluation below is a full one
    # (reclamation/rules_delta.py) and the new accounts need no flag it would then clear
    dirty = literal(profile.rules_evaluated_at is not None)
    new_accounts = (
        select(literal(run.profile_id), model_id, *account_values, now_sql, person_id, dirty)
        .select_from(staged)
        .where(ST.run_id == run.id, ~known)
    )
    insert = (
        insert_for(dialect, Subscription.__table__)
        .from_select(
            [
                S.profile_id,
                S.software_model_id,
                *(S[name] for name in ACCOUNT_FIELDS),
                S.fingerprint,
                S.first_seen_at,
                S.person_id,
                S.rules_dirty,
            ],
            new_accounts,
        )
        .on_conflict_do_nothing(index_elements=[S.profile_id, S.external_id])
    )
    staged_count = summary.accounts - summary.unchanged
    insert = insert.execution_options(preserve_rowcount=True)
    connection = session.connection()
    with _indexes_built_after(connection, staged_count):
        if staged_count >= BULK_ROWS:
            # a big insert's foreign keys are checked once for its rows (all of them have an
            # id above the largest before it: the sequence only grows), not by triggers per row
            before = session.scalar(select(func.max(S.id))) or 0
            written = and_(S.profile_id == run.profile_id, S.id > before)
            summary.created = insert_checking_references_once(connection, insert, table, written)
        else:
            summary.created = rowcount(session.execute(insert)) or 0
    if summary.created + summary.updated >= BULK_ROWS:
        refresh_statistics(session.connection(), "subscription", columns=PLANNED_ACCOUNT_COLUMNS)
    # 5. gone: only now that the whole download succeeded
    previous = session.scalar(
        select(func.max(SyncRun.started_at)).where(
            SyncRun.profile_id == run.profile_id,
            SyncRun.status == RunStatus.SUCCEEDED,
        )
    )
    # the accounts not gone before this run that its download did not list (the unchanged
    # ones were not staged: what the download left of the stored accounts is what is gone)
    unlisted = list(stored.fingerprints)
    mark_gone = (
        update(table)
        .where(
            S.profile_id == run.profile_id,
            S.gone_at.is_(None),
            S.external_id.in_(bindparam("x_ids", expanding=True)),
        )
        .values(gone_at=now, last_seen_at=previous or now)
    )
    summary.gone = 0
    for start in range(0, len(unlisted), GONE_BATCH):
        batch = unlisted[start : start + GONE_BATCH]
        summary.gone += rowcount(session.execute(mark_gone, {"x_ids": batch})) or 0
    # 6. activity from an event log (or from the identity provider's app that fronts this
    # one), forward-only, and the watermark in the same transaction
    if profile.process_activity and _activity_source(profile) is ActivitySource.IDENTITY_PROVIDER:
        activity = idp_activity(session, profile)
        source, app_id = _activity_from(session, profile)
        activity_days.copy_from_identity_provider(session, profile, source, app_id)
    elif days is not None:
        activity_days.record_events(session, profile, *days)
    if activity:
        statement = (
            update(table)
            .where(
                S.profile_id == run.profile_id,
                S.external_id == bindparam("x_id"),
                or_(S.last_activity_at.is_(None), S.last_activity_at < bindparam("x_at")),
            )
            .values(last_activity_at=bindparam("x_at"))
        )
        items = [{"x_id": k, "x_at": v} for k, v in activity.items()]
        for start in range(0, len(items), 5000):
            summary.activity_updates += (
                rowcount(session.execute(statement, items[start : start + 5000])) or 0
            )
    if profile.process_activity:
        profile.activity_watermark = run.started_at
    # 7. rules -> candidates
    progress.stage("rule evaluation")
    evaluating = time.perf_counter()
    evaluation = evaluate_profile(
        session,
        profile,
        now,
        can_reclaim=connector.capabilities.reclaim,
        revocation_task=getattr(connector, "revocation_task", ""),
        group_task=getattr(connector, "group_task", "") or GROUP_TASK,
        can_downgrade=profiles.capabilities_of(type(connector), profile.options or {}).downgrade,
    )
    if people is not None:
        _after_people_import(session, profile, connector, now, summary)
    summary.evaluation_seconds = time.perf_counter() - evaluating
    summary.candidates_created = evaluation.created
    summary.candidates_canceled = evaluation.canceled
    summary.candidates_closed = evaluation.closed
    # 8. close the run, schedule the next refresh, drop the staging rows
    _discard_staged(session.connection(), run.id)
    profile.next_refresh_at = now + profiles.REFRESH_EVERY


def _keep_seats_owned(
    session: Session,
    run: _Run,
    connector: Connector,
    owned: list[EntitlementRecord],
    clock: Clock,
) -> None:
    """The vendor's seats owned as the profile's vendor-managed entitlements (a model per
    product and edition, even one nobody holds a seat of yet)."""
    unpaid: frozenset[str] = getattr(connector, "unpaid_editions", frozenset())
    items = []
    for record in owned:
        edition = record.edition or connector.default_edition
        model = profiles.ensure_software_model(
            session,
            clock,
            connector.publisher,
            record.product or connector.product,
            edition,
            paid=edition not in unpaid,
        )
        items.append((model.id, record))
    licensing_entitlements.keep_vendor_entitlements(session, clock, run.profile_id, items)


def _activity_source(profile: IntegrationProfile) -> ActivitySource:
    cls = connector_class(profile.kind)
    return profiles.capabilities_of(cls, profile.options or {}).activity_source


def idp_activity(session: Session, profile: IntegrationProfile) -> dict[str, datetime]:
    """Latest activity per account of `profile` taken from an identity provider's app that
    fronts it (option `activity_from=IDP_PROFILE:APP_ID`): the SSO activity of the same
    person's assignment to that app, as that profile's last sync recorded it."""
    source, app_id = _activity_from(session, profile)
    idp = Subscription.__table__.alias("idp")
    latest = func.max(idp.c.last_activity_at)
    query = (
        select(S.external_id, latest)
        .join(idp, and_(idp.c.person_id == S.person_id, idp.c.profile_id == source.id))
        .where(
            S.profile_id == profile.id,
            idp.c.external_id.like(f"{app_id}:%"),
            idp.c.last_activity_at.is_not(None),
        )
        .group_by(S.external_id)
    )
    return {external_id: at for external_id, at in session.execute(query) if at is not None}


def _activity_from(session: Session, profile: IntegrationProfile) -> tuple[IntegrationProfile, str]:
    """The identity provider's profile and app that front ``profile`` (`activity_from`)."""
    source_name, app_id = parse_activity_from(str((profile.options or {}).get("activity_from")))
    source = session.scalar(
        select(IntegrationProfile).where(IntegrationProfile.name == source_name)
    )
    if source is None:
        raise SyncError(
            f"option activity_from of {profile.name!r} names profile {source_name!r}, which "
            "does not exist"
        )
    return source, app_id


def parse_activity_from(value: str) -> tuple[str, str]:
    """`IDP_PROFILE:APP_ID` -> (profile name, app id)."""
    name, _, app_id = value.strip().rpartition(":")
    if not name or not app_id:
        raise SyncError(
            f"option activity_from must be IDP_PROFILE:APP_ID (an Okta profile and the id of "
            f"the Okta app that fronts this one), got {value!r}"
        )
    return name.strip(), app_id.strip()


def _after_people_import(
    session: Session,
    profile: IntegrationProfile,
    connector: Connector,
    now: datetime,
    summary: SyncSummary,
) -> None:
    """After an identity provider's people were imported: link the other profiles' accounts
    to them (full import), flag its apps that are also integrated directly, and evaluate the
    other profiles where someone who left still holds a seat."""
    if getattr(connector, "full_import", False) and summary.people is not None:
        summary.people.linked = directory.link_accounts_to_people(session, profile.id)
    directory.link_same_apps_by_name(session, connector.publisher)
    for profile_id in directory.profiles_with_leaver_seats(session):
        other = session.get_one(IntegrationProfile, profile_id)
        if other.id == profile.id or other.status != ProfileStatus.PUBLISHED:
            continue
        cls = connector_class(other.kind)
        evaluation = evaluate_profile(
            session,
            other,
            now,
            can_reclaim=profiles.capabilities_of(cls, other.options or {}).reclaim,
            revocation_task=getattr(cls, "revocation_task", ""),
            group_task=getattr(cls, "group_task", "") or GROUP_TASK,
            can_downgrade=profiles.capabilities_of(cls, other.options or {}).downgrade,
        )
        summary.candidates_created += evaluation.created


def _store_summary(record: SyncRun, summary: SyncSummary, status: str, now: datetime) -> None:
    record.status = status
    record.finished_at = now
    for name in (
        "pages",
        "requests",
        "retries",
        "accounts",
        "created",
        "updated",
        "gone",
        "activity_updates",
        "candidates_created",
        "candidates_canceled",
        "candidates_closed",
        "failed_page",
        "error",
        "download_seconds",
        "activity_seconds",
        "staging_seconds",
        "switch_over_seconds",
        "evaluation_seconds",
        "waited_seconds",
        "skipped",
        "unrecognised",
    ):
        setattr(record, name, getattr(summary, name))
    record.cleaned = dict(summary.cleaned) or None


def _fail(db: Database, run: _Run, summary: SyncSummary, clock: Clock) -> None:
    with db.transaction() as session:
        _discard_staged(session.connection(), run.id)
        _store_summary(session.get_one(SyncRun, run.id), summary, RunStatus.FAILED, clock.now())


async def sync_profile(
    db: Database,
    keys: KeyRing,
    clock: Clock,
    name: str,
    *,
    open_connector: ConnectorOpener = profiles.open_connector,
    progress: SyncProgress | None = None,
) -> SyncSummary:
    """Run one sync of a published profile; raises SyncError (with the summary) on failure."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    run = _open_run(db, clock, name)
    summary = SyncSummary(run_id=run.id, profile=run.profile_name, status=RunStatus.RUNNING)
    connector: Connector | None = None
    cleaner = Cleaner()
    try:
        with db.sessions() as session:
            profile = session.get_one(IntegrationProfile, run.profile_id)
            connector = open_connector(profile, keys)
            authorization.listen_for_rotations(connector, db, keys, clock, profile.id)
            wants_log = profile.process_activity and (
                connector.capabilities.activity_source == ActivitySource.EVENT_LOG
            )
            since = max(
                profile.activity_watermark or profile.analyze_activity_from,
                profile.analyze_activity_from,
            )
            salt = _fingerprint_salt(profile, connector)
            stored = _stored_accounts(session.connection(), run.profile_id, salt)
            skip_unchanged = getattr(connector, "skip_unchanged", None)
            if skip_unchanged is not None:
                stored.seed = _source_seed(connector, salt)
                skip_unchanged(stored)
        progress.stage("download")
        stage_started = time.perf_counter()
        await _download(db, run, connector, progress, summary, cleaner, stored)
        summary.download_seconds = time.perf_counter() - stage_started
        people: list[PersonRecord] | None = None
        # a connector that can be the directory but is told not to be (Microsoft 365 with
        # `import_people=false`, another identity provider being the directory) says so
        if isinstance(connector, IdentityProvider) and getattr(connector, "imports_people", True):
            progress.stage("people")
            people = [
                clean_person(cleaner, person)
                async for page in connector.people()
                for person in page
            ]
        owned: list[EntitlementRecord] | None = None
        if connector.capabilities.seats_owned and isinstance(connector, SeatsOwnedSource):
            progress.stage("seats owned")
            owned = [record async for page in connector.entitlements() for record in page]
        activity = None
        days: tuple[activity_days.DayCounts, datetime] | None = None
        if wants_log:
            progress.stage("activity")
            stage_started = time.perf_counter()
            days = (activity_days.DayCounts(), since)
            activity = await _collect_activity(connector, since, run.started_at, cleaner, days[0])
            summary.activity_seconds = time.perf_counter() - stage_started
        progress.stage("switch-over")
        stage_started = time.perf_counter()
        now = clock.now()
        _copy_stats(connector, summary)
        summary.cleaned = cleaner.as_dict()
        summary.status = RunStatus.SUCCEEDED
        if summary.accounts - summary.unchanged >= BULK_ROWS:
            # Statistics for the planner, in a transaction of their own: ANALYZE holds a lock
            # that conflicts with another ANALYZE of the table until its transaction ends, so
            # inside the switch-over it would queue every other profile's switch-over behind
            # this one (seen in bench/scale_out.py as Lock:relation on staged_account).
            with db.engine.begin() as connection:
                refresh_statistics(connection, "staged_account", columns=PLANNED_STAGED_COLUMNS)
        # SQLite's cache is memory held once filled; PostgreSQL's work_mem only a limit
        cache = (
            _cache_mebibytes(summary.accounts)
            if db.engine.dialect.name == "sqlite"
            else CACHE_MEBIBYTES[1]
        )
        with db.transaction() as session, large_cache(session.connection(), cache):
            _switch_over(
                session,
                run,
                connector,
                activity,
                people,
                now,
                summary,
                clock,
                progress,
                stored,
                days,
            )
            if owned is not None:
                _keep_seats_owned(session, run, connector, owned, clock)
            summary.switch_over_seconds = (
                time.perf_counter() - stage_started - summary.evaluation_seconds
            )
            _store_summary(session.get_one(SyncRun, run.id), summary, RunStatus.SUCCEEDED, now)
    except BaseException as exc:
        summary.status = RunStatus.FAILED
        summary.error = _describe(exc)
        if isinstance(exc, PageError | SnapshotError):
            summary.failed_page = exc.page
        if connector is not None:
            _copy_stats(connector, summary)
        summary.cleaned = cleaner.as_dict()
        _fail(db, run, summary, clock)
        if isinstance(exc, ReauthorizationRequired):
            with db.transaction() as session:
                authorization.mark_reauthorization_required(
                    session, clock, session.get_one(IntegrationProfile, run.profile_id), str(exc)
                )
        summary.seconds = time.perf_counter() - started
        if isinstance(exc, Exception):
            raise SyncError(
                f"sync of {name!r} failed, nothing was changed: {summary.error}", summary
            ) from exc
        raise
    finally:
        if connector is not None:
            await connector.aclose()
    summary.seconds = time.perf_counter() - started
    return summary


CACHE_BYTES_PER_ACCOUNT = 400  # SQLite page cache for the switch-over, per account listed
CACHE_MEBIBYTES = (16, 64)


def _cache_mebibytes(accounts: int) -> int:
    """The switch-over's cache, grown with the accounts it reads and writes: the full 64 MiB
    (what a 300,000-user switch-over needs) from about 170,000 accounts on. At 100,000 it is
    38 MiB: the cache fills to its size, and 64 MiB of it made the switch-over the peak of the
    process's memory (bench/sync_rally.py: 253 MB against a 250 MB target)."""
    low, high = CACHE_MEBIBYTES
    return max(low, min(high, -(-accounts * CACHE_BYTES_PER_ACCOUNT // 2**20)))


def _copy_stats(connector: Connector, summary: SyncSummary) -> None:
    stats = connector.stats
    summary.requests = stats.requests
    summary.retries = stats.retries
    summary.pages = max(summary.pages, stats.pages)
    summary.waited_seconds = round(stats.waited_seconds, 3)
    summary.skipped = len(getattr(connector, "skipped", ()))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
        return "interrupted"
    # the error may quote the vendor: stored as one line without control characters (a NUL
    # would make the failed run's own record fail on PostgreSQL)
    text = strip_unstorable(" ".join((str(exc) or type(exc).__name__).split()))
    return text if len(text) <= 2000 else text[:2000] + "..."
