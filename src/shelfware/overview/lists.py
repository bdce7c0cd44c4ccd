"""The workspace's other lists: people, sync runs (with their errors), entitlements."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shelfware.models import (
    Entitlement,
    IntegrationProfile,
    Person,
    SoftwareModel,
    Subscription,
    SyncRun,
)
from shelfware.profiles.service import get_profile
from shelfware.ranges import View


class PersonRow(View):
    id: int
    email: str
    display_name: str | None
    seats: int


class RunRow(View):
    id: int
    profile: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    accounts: int
    created: int
    updated: int
    gone: int
    candidates_created: int
    error: str | None


class EntitlementRow(View):
    id: int
    software_model: str
    seats: int
    unit_cost: Decimal
    currency: str
    billing_period: str
    term_start: date | None
    term_end: date | None
    renewal_date: date | None
    notice_date: date | None
    contract_ref: str | None


def list_people(
    session: Session, *, after: int = 0, limit: int = 50, search: str | None = None
) -> tuple[list[PersonRow], int | None]:
    """People in id order after ``after``, with the seats they hold; and the next cursor."""
    stmt = select(Person).where(Person.id > after).order_by(Person.id).limit(limit + 1)
    if search:
        stmt = stmt.where(Person.email.startswith(search.strip().lower(), autoescape=True))
    people = list(session.scalars(stmt))
    more = len(people) > limit
    people = people[:limit]
    seats = dict(
        session.execute(
            select(Subscription.person_id, func.count())
            .where(
                Subscription.person_id.in_([p.id for p in people]),
                Subscription.active.is_(True),
                Subscription.gone_at.is_(None),
            )
            .group_by(Subscription.person_id)
        ).all()
    )
    rows = [
        PersonRow(id=p.id, email=p.email, display_name=p.display_name, seats=seats.get(p.id, 0))
        for p in people
    ]
    return rows, (rows[-1].id if more and rows else None)


def list_runs(session: Session, *, profile: str | None = None, limit: int = 100) -> list[RunRow]:
    """The latest sync runs, newest first."""

    stmt = (
        select(SyncRun, IntegrationProfile.name)
        .join(IntegrationProfile, IntegrationProfile.id == SyncRun.profile_id)
        .order_by(SyncRun.id.desc())
        .limit(limit)
    )
    if profile:
        stmt = stmt.where(SyncRun.profile_id == get_profile(session, profile).id)
    return [
        RunRow(
            id=run.id,
            profile=name,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            accounts=run.accounts,
            created=run.created,
            updated=run.updated,
            gone=run.gone,
            candidates_created=run.candidates_created,
            error=run.error,
        )
        for run, name in session.execute(stmt)
    ]


def list_entitlements(session: Session) -> list[EntitlementRow]:
    """Every entitlement, soonest renewal first (those without a date last)."""
    when = func.coalesce(Entitlement.renewal_date, Entitlement.term_end)
    stmt = (
        select(Entitlement, SoftwareModel)
        .join(SoftwareModel, SoftwareModel.id == Entitlement.software_model_id)
        .order_by(when.is_(None), when, Entitlement.id)
    )
    return [
        EntitlementRow(
            id=ent.id,
            software_model=model.display_name,
            seats=ent.seats,
            unit_cost=ent.unit_cost,
            currency=ent.currency,
            billing_period=ent.billing_period,
            term_start=ent.term_start,
            term_end=ent.term_end,
            renewal_date=ent.renewal_date,
            notice_date=ent.notice_date,
            contract_ref=ent.contract_ref,
        )
        for ent, model in session.execute(stmt)
    ]
