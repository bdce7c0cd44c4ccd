"""One page of subscriptions: filters and keyset paging that stay fast at a million rows.

Pages follow the primary key (``id > after``), so page N costs what page 1 costs; no total
count is taken (a count over a million rows is the slow part of offset paging).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from shelfware.kit.db import UTCDateTime
from shelfware.models import IntegrationProfile, ReclamationRule, SoftwareModel, Subscription
from shelfware.profiles.service import DEFAULT_THRESHOLD_DAYS, get_profile
from shelfware.ranges import Id, Name
from shelfware.subscriptions.schemas import SubscriptionView
from shelfware.subscriptions.service import subscription_view

S = Subscription.__table__.c
MAX_PAGE = 500


class SubscriptionFilter(BaseModel):
    """``profile``: a profile name; ``model``: a software model id; ``stale``: only seats idle
    past their rule's threshold; ``search``: the start of a user name or email; ``after``:
    the last id of the previous page."""

    model_config = ConfigDict(extra="forbid")

    profile: Name | None = None
    model: Id | None = None
    stale: bool = False
    admin: bool | None = None
    search: Name | None = None
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)


class SubscriptionPage(BaseModel):
    rows: list[SubscriptionView]
    next_after: int | None  # None: this is the last page


def _instant(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def stale_condition(session: Session, now: datetime) -> Any:
    """SQL true for a seat idle past its model's rule threshold (never-used accounts count
    once past the grace period), as ``licensing.count_stale`` defines stale."""
    thresholds = dict(
        session.execute(
            select(ReclamationRule.software_model_id, ReclamationRule.threshold_days)
        ).all()
    )
    cut: Any = _instant(now - timedelta(days=DEFAULT_THRESHOLD_DAYS))
    if thresholds:
        cut = case(
            *[
                (S.software_model_id == model_id, _instant(now - timedelta(days=days)))
                for model_id, days in thresholds.items()
            ],
            else_=cut,
        )
    last = S.last_activity_at
    since = func.coalesce(S.created_in_app_at, S.first_seen_at)
    return or_(and_(last.is_not(None), last < cut), and_(last.is_(None), since <= cut))


def page_subscriptions(
    session: Session, wanted: SubscriptionFilter, now: datetime
) -> SubscriptionPage:
    """Seat-holding accounts matching ``wanted``, in id order, one page after ``after``."""
    stmt = (
        select(Subscription, IntegrationProfile.name, SoftwareModel)
        .join(IntegrationProfile, IntegrationProfile.id == Subscription.profile_id)
        .join(SoftwareModel, SoftwareModel.id == Subscription.software_model_id)
        .where(Subscription.active.is_(True), Subscription.gone_at.is_(None))
        .where(Subscription.id > wanted.after)
        .order_by(Subscription.id)
        .limit(wanted.limit + 1)
    )
    if wanted.profile is not None:
        stmt = stmt.where(Subscription.profile_id == get_profile(session, wanted.profile).id)
    if wanted.model is not None:
        stmt = stmt.where(Subscription.software_model_id == wanted.model)
    if wanted.admin is not None:
        stmt = stmt.where(Subscription.admin.is_(wanted.admin))
    if wanted.stale:
        stmt = stmt.where(stale_condition(session, now))
    if wanted.search and (start := wanted.search.strip().lower()):
        stmt = stmt.where(  # a prefix as typed: % and _ are text here, not wildcards
            or_(
                func.lower(Subscription.username).startswith(start, autoescape=True),
                func.lower(Subscription.email).startswith(start, autoescape=True),
            )
        )
    found = session.execute(stmt).all()
    more = len(found) > wanted.limit
    rows = [subscription_view(sub, profile, model) for sub, profile, model in found[: wanted.limit]]
    return SubscriptionPage(rows=rows, next_after=rows[-1].id if more and rows else None)


def software_models(session: Session) -> list[tuple[int, str]]:
    """(id, display name) of every software model, for a filter's choices."""
    models = session.scalars(
        select(SoftwareModel).order_by(
            SoftwareModel.publisher, SoftwareModel.product, SoftwareModel.edition
        )
    )
    return [(m.id, m.display_name) for m in models]
