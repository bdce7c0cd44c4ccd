"""Listing the accounts that hold seats. Services never commit: the caller owns the session."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.models import IntegrationProfile, SoftwareModel, Subscription
from shelfware.profiles.service import get_profile
from shelfware.subscriptions.schemas import SubscriptionQuery, SubscriptionView


def list_subscriptions(session: Session, query: SubscriptionQuery) -> list[SubscriptionView]:
    """Accounts that currently hold a seat (every account with ``all``), by profile then id.

    An unknown profile name raises ``ProfileNotFound`` rather than returning nothing.
    """
    stmt = (
        select(Subscription, IntegrationProfile.name, SoftwareModel)
        .join(IntegrationProfile, IntegrationProfile.id == Subscription.profile_id)
        .join(SoftwareModel, SoftwareModel.id == Subscription.software_model_id)
        .order_by(IntegrationProfile.name, Subscription.id)
    )
    if query.profile is not None:
        stmt = stmt.where(Subscription.profile_id == get_profile(session, query.profile).id)
    if not query.all:
        stmt = stmt.where(Subscription.active.is_(True), Subscription.gone_at.is_(None))
    return [subscription_view(sub, profile, model) for sub, profile, model in session.execute(stmt)]


def subscription_view(sub: Subscription, profile: str, model: SoftwareModel) -> SubscriptionView:
    return SubscriptionView(
        id=sub.id,
        profile=profile,
        external_id=sub.external_id,
        username=sub.username,
        email=sub.email,
        display_name=sub.display_name,
        software_model=model.display_name,
        edition=sub.edition,
        active=sub.active,
        admin=sub.admin,
        created_in_app_at=sub.created_in_app_at,
        last_activity_at=sub.last_activity_at,
        person_id=sub.person_id,
        gone_at=sub.gone_at,
    )
