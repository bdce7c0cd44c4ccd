"""Test helpers: set up published profiles through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from shelfware.connectors.base import ValidationReport
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import RemovalCandidate, Subscription, SyncRun
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate


async def published(
    db: Database, keys: KeyRing, clock: FrozenClock, data: ProfileCreate
) -> ValidationReport:
    """Create, validate (it must pass) and publish a profile through the real services."""
    with db.transaction() as session:
        profiles.create_profile(session, keys, clock, data)
    report = await profiles.validate_profile(db, keys, clock, data.name)
    assert report.ok, report
    with db.transaction() as session:
        profiles.publish_profile(session, clock, profiles.get_profile(session, data.name))
    return report


async def published_rally(
    db: Database,
    keys: KeyRing,
    clock: FrozenClock,
    url: str,
    api_key: str,
    *,
    name: str = "rally",
    options: dict[str, str] | None = None,
    reclaim: bool = True,
) -> None:
    data = ProfileCreate(
        kind="rally",
        name=name,
        url=url,
        secrets={"api_key": api_key},
        options=options or {},
        reclaim=reclaim,
    )
    await published(db, keys, clock, data)


def snapshot(db: Database) -> dict[str, Any]:
    """Every subscription and candidate row, and the profiles' watermarks, as plain data."""
    from shelfware.models import IntegrationProfile

    def rows(model: Any) -> list[tuple[Any, ...]]:
        table = model.__table__
        with db.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]

    with db.sessions() as session:
        watermarks = [
            (p.name, p.activity_watermark)
            for p in session.scalars(select(IntegrationProfile).order_by(IntegrationProfile.id))
        ]
    return {
        "subscriptions": rows(Subscription),
        "candidates": rows(RemovalCandidate),
        "watermarks": watermarks,
    }


def last_run(db: Database) -> SyncRun:
    with db.sessions() as session:
        run = session.scalar(select(SyncRun).order_by(SyncRun.id.desc()).limit(1))
        assert run is not None
        return run


def idle_expected(user: Any, now: datetime, days: int = 60) -> bool:
    """The rule, restated independently: idle more than `days`, never-used past the grace."""
    cutoff = now - timedelta(days=days)
    dates = [d for d in (user.last_login_date, user.last_active_date) if d is not None]
    if dates:
        return max(dates) < cutoff
    return user.creation_date <= cutoff


def is_admin(user: Any) -> bool:
    return bool(user.subscription_admin) or user.permission in (
        "Subscription Admin",
        "Workspace Admin",
    )


def wide_cap(**values: Any) -> Any:
    """A configuration whose reclaim cap never binds: for tests about something else than
    the cap (it is always enforced, from the configuration)."""
    from shelfware.settings import Settings

    return Settings(**{"reclaim_max_percent": 100, "reclaim_max_accounts": 1_000_000, **values})
