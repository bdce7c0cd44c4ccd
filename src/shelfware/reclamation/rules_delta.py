"""Rule evaluation looks only where an outcome can change since the profile's last evaluation.

An evaluation's outcome for a seat (a candidate created, cancelled, closed) depends on:

- the account's row: every UPDATE of ``subscription`` sets its ``rules_dirty`` (``onupdate``;
  a new row starts dirty), whoever writes it (the sync, a keep, a link to a person, a keep
  forgotten because it ran out);
- the seat's candidates: the same flag on ``removal_candidate`` (the workflow closing one makes
  room for a new one);
- the passage of time: an account whose last activity (or, never used, its start) crosses a
  rule's threshold between the last evaluation and now;
- the account's person leaving or coming back: the seats of people who left, and the open
  candidates that say a person left, are looked at every time;
- everything else (the rules, their excluded groups' members, the seat prices, the profile's
  settings, what the connector can do): a digest, ``fingerprint``; when it differs, when a
  downgrade rule counts (its measure is a sliding window of activity days), when the clock
  went back, once a day, and when the affected seats are many, the evaluation is a full one.

The evaluation then runs its set-based statements over those seats only (``scope``), clears
the flags it saw and records the watermark (``finish``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    SelectBase,
    Table,
    and_,
    false,
    func,
    literal,
    select,
    text,
    true,
    union,
    update,
)
from sqlalchemy.orm import Session

from shelfware.kit.db import UTCDateTime
from shelfware.licensing.pricing import SeatPrice
from shelfware.models import (
    IntegrationProfile,
    Person,
    ReclamationRule,
    RemovalCandidate,
    Subscription,
    is_open_candidate,
)
from shelfware.models.person import LEFT_STATUSES
from shelfware.models.reclamation import LEFT_SQL

S = Subscription.__table__.c
C = RemovalCandidate.__table__.c
P = Person.__table__.c
SUBSCRIPTIONS: Table = cast(Table, Subscription.__table__)
REMOVAL_CANDIDATES: Table = cast(Table, RemovalCandidate.__table__)

# A full evaluation at least this often: whatever a writer outside the rules above changed
# (or a flag cleared by a concurrent transaction) is seen within a day.
FULL_EVERY = timedelta(days=1)
# More affected seats than this: a full evaluation (the seats' ids are bound parameters). Measured
# on PostgreSQL at 100,000 seats (docs/benchmarks.md): 5,000 ids in scope cost 0.97 s, a full
# evaluation 0.40 s; the break-even is near 2,000.
MOST_SEATS = 2_000

Scope = Sequence[int] | None
"""The subscription ids an evaluation looks at; None: all of the profile's."""


def within(column: Any, scope: Scope) -> ColumnElement[bool]:
    """SQL: ``column`` (a subscription id) is in the evaluation's scope."""
    if scope is None:
        return true()
    if not scope:
        return false()
    return cast(ColumnElement[bool], column.in_(list(scope)))


def fingerprint(
    session: Session,
    profile: IntegrationProfile,
    model_ids: Sequence[int],
    rules: Sequence[ReclamationRule],
    members: dict[int, SelectBase | None],
    prices: dict[int, SeatPrice],
    settings: Sequence[Any],
) -> str:
    """A digest of what an evaluation of ``profile`` depends on besides its accounts and
    candidates: its models, every setting of their rules, the members of the rules' excluded
    groups (``members``: rule id -> a query of them), the seat prices, the profile's settings
    and ``settings`` (what the connector can do)."""
    digest = hashlib.sha256()

    def add(value: Any) -> None:
        digest.update(repr(value).encode())
        digest.update(b"\x00")

    add(sorted(model_ids))
    add(
        (
            profile.process_activity,
            profile.process_reclaim,
            profile.credential_owner_external_id,
            *settings,
        )
    )
    for model_id, price in sorted(prices.items()):
        add((model_id, price))
    for rule in sorted(rules, key=lambda r: r.id):
        add([(c.key, getattr(rule, c.key)) for c in ReclamationRule.__table__.columns])
        group = members.get(rule.id)
        if group is not None:
            add(_set_digest(session, group))
    return digest.hexdigest()


def _set_digest(session: Session, query: SelectBase) -> tuple[int, int]:
    """An order-free digest of a query's values (how many, and the sum of their hashes),
    read as a stream."""
    count = total = 0
    for value in session.scalars(cast(Select[Any], query)):
        count += 1
        key = hashlib.blake2b(repr(value).encode(), digest_size=8).digest()
        total = (total + int.from_bytes(key, "big")) % (1 << 64)
    return count, total


def scope(
    session: Session,
    profile: IntegrationProfile,
    now: datetime,
    digest: str,
    rules: Sequence[ReclamationRule],
    *,
    downgrades: bool,
) -> Scope:
    """The seats whose evaluation can differ from the last one's, or None for a full
    evaluation (no watermark, another digest, a downgrade rule, the clock went back, a day
    since the last full one, too many seats)."""
    before = profile.rules_evaluated_at
    full_at = profile.rules_full_at
    if (
        before is None
        or full_at is None
        or downgrades
        or profile.rules_fingerprint != digest
        or now < before
        or now - full_at >= FULL_EVERY
    ):
        return None
    mine = S.profile_id == profile.id
    affected: list[Select[Any]] = [
        select(S.id).where(mine, S.rules_dirty == true()),
        select(C.subscription_id).where(C.profile_id == profile.id, C.rules_dirty == true()),
        select(S.id).where(
            mine, S.person_id.in_(select(P.id).where(P.idp_status.in_(LEFT_STATUSES)))
        ),
        # a person came back: the candidates saying they left are cancelled
        select(C.subscription_id).where(
            C.profile_id == profile.id, text(LEFT_SQL), is_open_candidate()
        ),
    ]
    for rule in rules:
        affected.extend(_crossing(mine, rule, before, now))
    ids = list(session.scalars(union(*affected).limit(MOST_SEATS + 1)))
    return None if len(ids) > MOST_SEATS else ids


def _crossing(
    mine: ColumnElement[bool], rule: ReclamationRule, before: datetime, now: datetime
) -> list[Select[Any]]:
    """The rule's accounts that became idle between ``before`` and ``now`` (their activity, or
    never used their start, crossed the threshold)."""
    threshold = timedelta(days=rule.threshold_days)
    low = literal(before - threshold, UTCDateTime())
    high = literal(now - threshold, UTCDateTime())
    model = S.software_model_id == rule.software_model_id
    crossing = [
        select(S.id).where(mine, model, S.last_activity_at >= low, S.last_activity_at < high)
    ]
    if rule.new_account_grace:
        since = func.coalesce(S.created_in_app_at, S.first_seen_at)
        crossing.append(
            select(S.id).where(
                mine, model, S.last_activity_at.is_(None), and_(since >= low, since <= high)
            )
        )
    return crossing


def finish(
    session: Session, profile: IntegrationProfile, now: datetime, digest: str, *, full: bool
) -> None:
    """The evaluation is done: what it looked at is no longer "written since"; the watermark."""
    session.execute(
        update(SUBSCRIPTIONS)
        .where(S.profile_id == profile.id, S.rules_dirty == true())
        .values(rules_dirty=False)
    )
    session.execute(
        update(REMOVAL_CANDIDATES)
        .where(C.profile_id == profile.id, C.rules_dirty == true())
        .values(rules_dirty=False)
    )
    profile.rules_evaluated_at = now
    profile.rules_fingerprint = digest
    if full:
        profile.rules_full_at = now
