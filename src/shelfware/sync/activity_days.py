"""Activity per account and day (``ActivityDay``): the intensity downgrade rules measure.

Written by the sync from event-based activity only: an app's event log (Asana's audit log,
Okta's SSO events, a custom spec's activity stream) counted as it streams, and, for a profile
that takes its activity from the identity provider's app that fronts it (SCIM
``activity_from``), the same person's days of that app copied from the identity provider's
profile. The profile's ``activity_days_from`` says since when days are recorded: a window
that starts earlier has no intensity data.

Days are kept for ``KEEP_DAYS`` (or the longest downgrade window, if longer): older ones are
deleted as each run records new ones, and ``activity_days_from`` moves up to the cut so a rule
whose window reaches further back is told its data is missing rather than shown a short count.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from shelfware.kit.clock import utc
from shelfware.kit.db import insert_for, rowcount
from shelfware.models import ActivityDay, IntegrationProfile, ReclamationRule, Subscription

S = Subscription.__table__.c
D = ActivityDay.__table__.c
BATCH = 5000
KEEP_DAYS = 400  # a year's window and a renewal quarter's margin
DayCounts = Counter[tuple[str, date]]


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()


def record_events(
    session: Session, profile: IntegrationProfile, days: DayCounts, since: datetime
) -> int:
    """Add one run's events per (account, day) to the profile's days (a day cut by the
    previous run's watermark adds up: each run reads events after the last one's end).
    Marks the profile's days recorded from ``since`` on, the first time. Returns rows written."""
    if profile.activity_days_from is None:
        profile.activity_days_from = since
    if not days:
        return 0
    dialect = session.get_bind().dialect.name
    upsert = insert_for(dialect, ActivityDay.__table__)
    selection = select(S.id, bindparam("x_day"), bindparam("x_events")).where(
        S.profile_id == profile.id, S.external_id == bindparam("x_id")
    )
    statement = (
        upsert.from_select(["subscription_id", "day", "events"], selection)
    ).on_conflict_do_update(
        index_elements=["subscription_id", "day"],
        set_={"events": D.events + upsert.excluded.events},
    )
    items = [
        {"x_id": external_id, "x_day": day, "x_events": count}
        for (external_id, day), count in days.items()
    ]
    for start in range(0, len(items), BATCH):
        session.execute(statement, items[start : start + BATCH])
    prune(session, profile, day_of(since))
    return len(items)


def keep_days(session: Session) -> int:
    """How many days back activity is kept: ``KEEP_DAYS``, or the longest rule window."""
    longest = session.scalar(select(func.max(ReclamationRule.window_days)))
    return max(KEEP_DAYS, longest or 0)


def prune(session: Session, profile: IntegrationProfile, today: date) -> int:
    """Delete the profile's days older than :func:`keep_days` before ``today`` (one set-based
    DELETE through the primary key) and move ``activity_days_from`` up to the cut."""
    cut = today - timedelta(days=keep_days(session))
    mine = select(S.id).where(S.profile_id == profile.id)
    deleted = rowcount(
        session.execute(
            delete(ActivityDay)
            .where(D.subscription_id.in_(mine), D.day < cut)
            .execution_options(synchronize_session=False)
        )
    )
    start = datetime.combine(cut, time(), UTC)
    if profile.activity_days_from is not None and utc(profile.activity_days_from) < start:
        profile.activity_days_from = start
    return deleted


def copy_from_identity_provider(
    session: Session, profile: IntegrationProfile, source: IntegrationProfile, app_id: str
) -> None:
    """The profile's days are the days of the same person's assignment to the identity
    provider's app ``app_id`` (recomputed: set-based, one DELETE and one INSERT ... SELECT)."""
    profile.activity_days_from = source.activity_days_from
    mine = select(S.id).where(S.profile_id == profile.id)
    session.execute(delete(ActivityDay).where(D.subscription_id.in_(mine)))
    if source.activity_days_from is None:
        return
    idp = Subscription.__table__.alias("idp")
    source_days = ActivityDay.__table__.alias("source_days")
    selection: Any = (
        select(S.id, source_days.c.day, func.sum(source_days.c.events))
        .join(idp, and_(idp.c.person_id == S.person_id, idp.c.profile_id == source.id))
        .join(source_days, source_days.c.subscription_id == idp.c.id)
        .where(
            S.profile_id == profile.id,
            S.person_id.is_not(None),
            idp.c.external_id.like(f"{app_id}:%"),
        )
        .group_by(S.id, source_days.c.day)
    )
    session.execute(
        insert(ActivityDay).from_select(["subscription_id", "day", "events"], selection)
    )
