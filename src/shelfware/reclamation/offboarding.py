"""Offboarding: reclaim every seat one person holds, across apps, in one go.

The plan (read only) lists the person's seats with what the reclaim would do to each and what
they cost a year, and says whether the blast-radius cap would stop it. ``offboard`` makes each
reclaimable seat a ready candidate (justification "left the organisation": their activity no
longer keeps the seat) and reclaims them through :func:`service.reclaim_candidates`, so the
re-read, the keeps of the rule's exclusions, the cap and the audit trail are the queue's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.licensing.pricing import day_of, seat_prices
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    Justification,
    Person,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
    is_open_candidate,
)
from shelfware.ranges import View
from shelfware.reclamation import states
from shelfware.reclamation.schemas import ReclaimOutcomeView
from shelfware.reclamation.service import (
    CapExceeded,
    Limits,
    Override,
    ReclaimError,
    cap_verdict,
    check_override,
    reclaim_candidates,
)
from shelfware.settings import Settings, get_settings

# open candidates the reclaim takes as they are (ready, or already being reclaimed)
_TAKEN_AS_THEY_ARE = (CandidateState.READY.value, CandidateState.AWAITING_REVOCATION.value)


class PersonUnknown(ReclaimError, LookupError):
    """No person with that id."""


class OffboardSeat(View):
    subscription_id: int
    profile: str
    software_model: str
    username: str | None
    email: str | None
    candidate_id: int | None  # its open removal candidate, if any
    candidate_state: str | None
    reclaim: bool  # False: the reclaim cannot take it (``note`` says why and what to do)
    note: str = ""
    annual: float | None = None
    currency: str = ""


class OffboardPlan(View):
    person_id: int
    email: str
    seats: list[OffboardSeat]
    annual: dict[str, float]  # the reclaimable seats' money a year, per currency
    unpriced: int = 0
    over_cap: str | None = None  # why the cap would stop the reclaim, or None

    @property
    def reclaimable(self) -> list[int]:
        return sorted(s.subscription_id for s in self.seats if s.reclaim)


def _why_not(sub: Subscription, profile: IntegrationProfile) -> str:
    if not profile.process_reclaim:
        return (
            f"the reclaim process of profile {profile.name} is off: remove the seat in the app "
            "by hand, or turn the profile's reclaim on"
        )
    if sub.external_id == profile.credential_owner_external_id:
        return "the account the profile's credential belongs to: never reclaimed"
    if sub.unrecognised:
        return f"the app's role or status of this account is unknown ({sub.unrecognised})"
    if sub.group_scoped:
        return "the seat comes from a group: take the person out of the group in the app"
    return ""


def offboard_plan(
    session: Session, person_id: int, now: datetime, limits: Limits | None = None
) -> OffboardPlan:
    """The seats ``person_id`` holds, what a reclaim would do to each, their money a year and
    whether the cap (``limits``, else the configuration's) would stop it. Writes nothing."""
    person = session.get(Person, person_id)
    if person is None:
        raise PersonUnknown(f"no person with id {person_id}")
    rows = session.execute(
        select(Subscription, IntegrationProfile, SoftwareModel, RemovalCandidate)
        .join(IntegrationProfile, IntegrationProfile.id == Subscription.profile_id)
        .join(SoftwareModel, SoftwareModel.id == Subscription.software_model_id)
        .outerjoin(
            RemovalCandidate,
            and_(RemovalCandidate.subscription_id == Subscription.id, is_open_candidate()),
        )
        .where(
            Subscription.person_id == person_id,
            Subscription.active.is_(True),
            Subscription.gone_at.is_(None),
        )
        .order_by(SoftwareModel.publisher, SoftwareModel.product, Subscription.id)
    ).all()
    prices = seat_prices(session, sorted({m.id for _, _, m, _ in rows}), on=day_of(now))
    seats: list[OffboardSeat] = []
    money: dict[str, Decimal] = {}
    unpriced = 0
    fresh: dict[int, tuple[str, int]] = {}  # model -> (name, seats the run would start)
    for sub, profile, model, cand in rows:
        why = _why_not(sub, profile)
        price = prices.get(model.id)
        annual = price.annual if price is not None else None
        currency = price.currency if price is not None else model.currency
        if not why:
            if annual is None:
                unpriced += 1
            else:
                money[currency] = money.get(currency, Decimal(0)) + annual
            in_flight = cand is not None and cand.state == CandidateState.AWAITING_REVOCATION
            if not in_flight:
                name, count = fresh.get(model.id, (model.display_name, 0))
                fresh[model.id] = (name, count + 1)
        seats.append(
            OffboardSeat(
                subscription_id=sub.id,
                profile=profile.name,
                software_model=model.display_name,
                username=sub.username,
                email=sub.email,
                candidate_id=cand.id if cand is not None else None,
                candidate_state=cand.state if cand is not None else None,
                reclaim=not why,
                note=why,
                annual=float(round(annual, 2)) if annual is not None else None,
                currency=currency,
            )
        )
    return OffboardPlan(
        person_id=person.id,
        email=person.email,
        seats=seats,
        annual={c: float(round(v, 2)) for c, v in sorted(money.items())},
        unpriced=unpriced,
        over_cap=cap_verdict(session, fresh, limits or Limits.of(get_settings()), now),
    )


def _candidates_for(session: Session, clock: Clock, plan: OffboardPlan, actor: str) -> list[int]:
    """A ready candidate of each reclaimable seat (an open one in the workflow is closed as
    replaced by the offboarding; one needing attention is made ready again)."""
    now = clock.now()
    why = f"offboarding of {plan.email} by {actor}"
    ids: list[int] = []
    for seat in plan.seats:
        if not seat.reclaim:
            continue
        cand = (
            session.get_one(RemovalCandidate, seat.candidate_id)
            if seat.candidate_id is not None
            else None
        )
        if cand is not None and cand.state in _TAKEN_AS_THEY_ARE:
            ids.append(cand.id)
            continue
        if cand is not None and cand.state == CandidateState.ATTENTION_REQUIRED:
            states.move(session, clock, cand, CandidateState.READY, why=why, actor=actor)
            cand.justification = Justification.LEFT_ORGANISATION.value
            ids.append(cand.id)
            continue
        if cand is not None:
            states.move(session, clock, cand, CandidateState.CLOSED_CANCELED, why=why, actor=actor)
            session.flush()
        sub = session.get_one(Subscription, seat.subscription_id)
        rule_id = session.scalar(
            select(ReclamationRule.id).where(
                ReclamationRule.software_model_id == sub.software_model_id
            )
        )
        annual = Decimal(str(seat.annual)) if seat.annual is not None else None
        since = sub.last_activity_at or sub.created_in_app_at or sub.first_seen_at
        fresh = RemovalCandidate(
            subscription_id=sub.id,
            profile_id=sub.profile_id,
            software_model_id=sub.software_model_id,
            rule_id=rule_id,
            state=CandidateState.READY.value,
            justification=Justification.LEFT_ORGANISATION.value,
            inactive_days=(now - since).days if since else None,
            unit_cost=annual,
            potential_savings=annual,
            reason=why,
            created_at=now,
            updated_at=now,
        )
        session.add(fresh)
        session.flush()
        ids.append(fresh.id)
    return ids


async def offboard(
    db: Database,
    keys: KeyRing,
    clock: Clock,
    person_id: int,
    seats: Sequence[int],
    *,
    actor: str,
    settings: Settings | None = None,
    override: Override | None = None,
) -> list[ReclaimOutcomeView]:
    """Reclaim every seat of ``person_id`` that the plan shown (``seats``: its reclaimable
    subscription ids) said would be. Refused, with nothing written, when the person's seats
    changed since (plan again) or when the cap would stop it (unless an admin's override)."""
    check_override(override)
    limits = Limits.of(settings or get_settings())
    with db.transaction() as session:
        plan = offboard_plan(session, person_id, clock.now(), limits)
        if plan.reclaimable != sorted(set(seats)):
            raise ReclaimError(
                f"the seats of {plan.email} changed since the preview: preview the offboarding "
                "again"
            )
        if not plan.reclaimable:
            raise ReclaimError(f"{plan.email} holds no seat the reclaim can take")
        if plan.over_cap is not None and override is None:
            raise CapExceeded(
                f"stopped before the first reclaim: {plan.over_cap}; wait for the window to "
                "move on, or ask an admin to exceed the cap with a reason"
            )
        ids = _candidates_for(session, clock, plan, actor)
        audit.record(
            session,
            clock,
            action="person.offboard",
            object_type="person",
            object_id=person_id,
            actor=actor,
            email=plan.email,
            candidates=ids,
        )
    return await reclaim_candidates(db, keys, clock, ids=ids, settings=settings, override=override)
