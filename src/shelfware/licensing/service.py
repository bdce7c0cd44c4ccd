"""Entitlements and reconciliation (the User Subscription metric of DOMAIN.md).

All money is per year: entitlement unit costs are annualised by their billing period.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.kit.db import UTCDateTime
from shelfware.licensing.pricing import CENT, seat_prices
from shelfware.licensing.schemas import EntitlementCreate, EntitlementView, ReconciliationRow
from shelfware.models import (
    CandidateState,
    Entitlement,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles.service import DEFAULT_THRESHOLD_DAYS

S = Subscription.__table__.c


class LicensingError(Exception):
    pass


def find_model(session: Session, text: str) -> SoftwareModel:
    """A software model by id, 'Publisher/Product/Edition' or its display name."""
    models = session.scalars(select(SoftwareModel)).all()
    wanted = text.strip().lower()
    for model in models:
        names = {
            str(model.id),
            model.display_name.lower(),
            f"{model.publisher}/{model.product}/{model.edition}".lower(),
            f"{model.publisher} / {model.product} / {model.edition}".lower(),
        }
        if wanted in names:
            return model
    known = "; ".join(f"{m.id}: {m.display_name}" for m in models) or (
        "none yet: publish a profile first"
    )
    raise LicensingError(f"no software model {text!r} (models: {known})")


def add_entitlement(session: Session, clock: Clock, data: EntitlementCreate) -> EntitlementView:
    model = find_model(session, data.model)
    entitlement = Entitlement(
        software_model_id=model.id,
        seats=data.seats,
        unit_cost=data.unit_cost,
        currency=data.currency,
        billing_period=data.billing_period,
        term_start=data.term_start,
        term_end=data.term_end,
        renewal_date=data.renewal_date,
        notice_date=data.notice_date,
        contract_ref=data.contract_ref,
        created_at=clock.now(),
    )
    session.add(entitlement)
    session.flush()
    audit.record(
        session,
        clock,
        action="entitlement.add",
        object_type="entitlement",
        object_id=entitlement.id,
        model=model.display_name,
        seats=data.seats,
        unit_cost=str(data.unit_cost),
        currency=data.currency,
        billing_period=data.billing_period,
    )
    return EntitlementView(
        id=entitlement.id,
        software_model=model.display_name,
        seats=entitlement.seats,
        unit_cost=entitlement.unit_cost,
        currency=entitlement.currency,
        billing_period=entitlement.billing_period,
        term_start=entitlement.term_start,
        term_end=entitlement.term_end,
        contract_ref=entitlement.contract_ref,
    )


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(CENT))


def reconcile(session: Session, now: datetime) -> list[ReconciliationRow]:
    """The compliance position per software model at ``now``: grouped queries for owned, used
    and realised; one count per model for stale (each model has its own threshold)."""
    today: date = now.astimezone(UTC).date()
    active_on = and_(
        or_(Entitlement.term_start.is_(None), Entitlement.term_start <= today),
        or_(Entitlement.term_end.is_(None), Entitlement.term_end >= today),
    )
    owned = dict(
        session.execute(
            select(Entitlement.software_model_id, func.sum(Entitlement.seats))
            .where(active_on)
            .group_by(Entitlement.software_model_id)
        ).all()
    )
    holds = and_(S.active.is_(True), S.gone_at.is_(None))
    used = {
        model_id: (accounts, people)
        for model_id, accounts, people in session.execute(
            select(
                S.software_model_id,
                func.count(),
                # one per person; accounts matched to nobody count once each
                func.count(func.distinct(S.person_id))
                + func.sum(case((S.person_id.is_(None), 1), else_=0)),
            )
            .where(holds)
            .group_by(S.software_model_id)
        )
    }
    thresholds = dict(
        session.execute(
            select(ReclamationRule.software_model_id, ReclamationRule.threshold_days)
        ).all()
    )
    realised = dict(
        session.execute(
            select(RemovalCandidate.software_model_id, func.sum(RemovalCandidate.unit_cost))
            .where(
                RemovalCandidate.state == CandidateState.CLOSED_COMPLETE.value,
                RemovalCandidate.closed_at <= literal(now, UTCDateTime()),
            )
            .group_by(RemovalCandidate.software_model_id)
        ).all()
    )
    prices = seat_prices(session)
    rows = []
    models = session.scalars(
        select(SoftwareModel).order_by(
            SoftwareModel.publisher, SoftwareModel.product, SoftwareModel.edition
        )
    )
    for model in models:
        threshold = thresholds.get(model.id, DEFAULT_THRESHOLD_DAYS)
        stale = count_stale(session, model.id, now - timedelta(days=threshold))
        rights_owned = int(owned.get(model.id) or 0)
        accounts, people = used.get(model.id, (0, 0))
        available = rights_owned - accounts
        price = prices[model.id]
        unit = price.annual

        def cost(n: int, unit: Decimal | None = unit) -> Decimal | None:
            return None if unit is None else unit * n

        realised_value = realised.get(model.id)
        rows.append(
            ReconciliationRow(
                software_model=model.display_name,
                publisher=model.publisher,
                product=model.product,
                edition=model.edition,
                currency=price.currency,
                unit_cost=_money(unit),
                rights_owned=rights_owned,
                rights_used=accounts,
                rights_used_people=int(people),
                rights_available=available,
                stale=stale,
                status="compliant" if accounts <= rights_owned else "under_licensed",
                true_up_cost=_money(cost(max(0, -available))),
                over_licensed_amount=_money(cost(max(0, available))),
                potential_savings=_money(cost(stale + max(0, available))),
                realised_savings=_money(Decimal(realised_value) if realised_value else Decimal(0)),
            )
        )
    return rows


def count_stale(session: Session, model_id: int, cutoff: datetime) -> int:
    """Seats held by accounts idle since before ``cutoff``; never-used accounts past the
    grace period (created before the cutoff) count as stale."""
    cut = literal(cutoff, UTCDateTime())
    since = func.coalesce(S.created_in_app_at, S.first_seen_at)
    return (
        session.scalar(
            select(func.count())
            .select_from(Subscription.__table__)
            .where(
                S.software_model_id == model_id,
                S.active.is_(True),
                S.gone_at.is_(None),
                or_(
                    and_(S.last_activity_at.is_not(None), S.last_activity_at < cut),
                    and_(S.last_activity_at.is_(None), since <= cut),
                ),
            )
        )
        or 0
    )
