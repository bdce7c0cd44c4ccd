"""Removal candidates: listing and reclaim execution.

Before any reclaim the account is re-read from the app: new activity, admin rights or an
exclusion cancel the candidate instead; the credential's own account is never reclaimed; an
account already gone or disabled counts as done. A reclaimed seat waits in
``awaiting_revocation`` until the next complete download confirms it is gone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, distinct, func, or_, select
from sqlalchemy.orm import Session

from shelfware.accounts.roles import Role
from shelfware.audit import service as audit
from shelfware.connectors.base import (
    AccountRecord,
    AccountRef,
    Connector,
    Downgrader,
    ReclaimOutcome,
    ReclaimResult,
)
from shelfware.kit import keyset
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database, lock_rows, rowcount
from shelfware.kit.keyset import CursorError
from shelfware.kit.text import strip_unstorable
from shelfware.licensing.pricing import SeatPrice, day_of, seat_prices
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    Justification,
    ReclaimLedgerEntry,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles import authorization
from shelfware.profiles import service as profiles
from shelfware.ranges import MAX_ID
from shelfware.reclamation import downgrade, keeps, states
from shelfware.reclamation.schemas import (
    CandidatePage,
    CandidateQuery,
    CandidateTotals,
    CandidateView,
    ReclaimOutcomeView,
    ReclaimSummary,
)
from shelfware.settings import Settings, get_settings
from shelfware.sync.cleaning import clean_account

RECLAIMABLE = (CandidateState.READY.value,)
RECLAIMS_IN_FLIGHT = 12
STOP_AFTER_FAILURES = 5
FAILED_ACTIONS = ("failed", "unreachable")
DECIDED_WHATEVER_ACTIVITY = (
    Justification.LEFT_ORGANISATION.value,
    Justification.ACCESS_REVIEW.value,
)


class ReclaimError(Exception):
    """A reclaim was refused; the message says why and what to do."""


class CandidateNotFound(ReclaimError, LookupError):
    """No removal candidate with that id."""


class CapExceeded(ReclaimError):
    """A run would reclaim more than the blast-radius cap allows."""


class ForceNotAllowed(ReclaimError, PermissionError):
    """Exceeding the cap was asked for by someone who is not an admin."""


@dataclass(frozen=True)
class Limits:
    """The blast radius, per software model, in any rolling ``window``: at most
    ``max_percent`` of the model's seats (at least one) and at most ``max_accounts`` accounts.
    Always the configuration's (``SHELFWARE_RECLAIM_*``): no caller chooses them."""

    max_percent: float
    max_accounts: int
    window: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.reclaim_max_percent,
            settings.reclaim_max_accounts,
            timedelta(hours=settings.reclaim_window_hours),
        )

    def allowed(self, seats: int) -> int:
        return min(self.max_accounts, max(1, math.floor(seats * self.max_percent / 100)))

    @property
    def hours(self) -> str:
        return f"{self.window.total_seconds() / 3600:g} h"


@dataclass(frozen=True)
class Override:
    """Exceed the cap for one run: only an admin (``role``), only with a ``reason``; the audit
    trail records who (``by``), why and what was exceeded. The CLI's local operator is an
    admin; the API's principal and the workspace's signed-in user have their own role."""

    reason: str
    by: str
    role: Role | str


def _is_admin(role: Role | str) -> bool:
    try:
        return Role(role) is Role.ADMIN
    except ValueError:
        return False


def check_override(override: Override | None) -> None:
    """Refuse an override from anyone but an admin (ForceNotAllowed), or without a reason."""
    if override is None:
        return
    if not _is_admin(override.role):
        raise ForceNotAllowed(
            f"only an admin may exceed the reclaim cap (force); {override.by} is "
            f"{override.role}: name fewer candidates, or ask an admin"
        )
    if not override.reason.strip():
        raise CapExceeded("force needs a reason (--reason TEXT): it is recorded")


def override_for(force: bool, reason: str, by: str, role: Role | str) -> Override | None:
    """The override a face's ``force`` / ``reason`` ask for, or None."""
    return Override(reason, by, role) if force else None


RC = RemovalCandidate


def in_flight() -> ColumnElement[bool]:
    """Marked before the app was called and not yet confirmed: resumed by the next run."""
    return and_(
        RC.state == CandidateState.AWAITING_REVOCATION.value,
        RC.reclaim_requested_at.is_not(None),
        RC.reclaimed_at.is_(None),
    )


def decided_for_removal(now: datetime) -> ColumnElement[bool]:
    """The workflow says reclaim: "release", no answer by the deadline, or removal approved."""
    return or_(
        and_(
            RC.state == CandidateState.AWAITING_USER.value,
            or_(RC.answer == "release", RC.deadline_at <= now),
        ),
        and_(RC.state == CandidateState.AWAITING_APPROVAL.value, RC.approved_at.is_not(None)),
    )


def candidate_query() -> Select[RemovalCandidate, Subscription, IntegrationProfile, SoftwareModel]:
    return (
        select(RemovalCandidate, Subscription, IntegrationProfile, SoftwareModel)
        .join(Subscription, Subscription.id == RemovalCandidate.subscription_id)
        .join(IntegrationProfile, IntegrationProfile.id == RemovalCandidate.profile_id)
        .join(SoftwareModel, SoftwareModel.id == RemovalCandidate.software_model_id)
    )


def _filtered(
    session: Session,
    query: Any,  # a Select of the queue, or a count of it
    *,
    state: str | None,
    profile: str | None,
    ids: Sequence[int] | None,
) -> Any:
    wanted = CandidateQuery(state=state, profile=profile)
    if wanted.state:
        valid = {s.value for s in CandidateState}
        if wanted.state not in valid:
            raise ReclaimError(
                f"unknown state {wanted.state!r}: use one of {', '.join(sorted(valid))}"
            )
        query = query.where(RemovalCandidate.state == wanted.state)
    if ids is not None:
        query = query.where(RemovalCandidate.id.in_(ids))
    if wanted.profile:
        query = query.where(
            RemovalCandidate.profile_id == profiles.get_profile(session, wanted.profile).id
        )
    return query


def _views(session: Session, rows: Iterable[Any], now: datetime | None) -> list[CandidateView]:
    rows = list(rows)
    # this page's models (and downgrades' target editions) only
    models = sorted(
        {m for cand, *_ in rows for m in (cand.software_model_id, cand.target_model_id) if m}
    )
    prices = seat_prices(session, models, on=day_of(now) if now is not None else None)
    targets = {
        model.id: model.display_name
        for model in session.scalars(select(SoftwareModel).where(SoftwareModel.id.in_(models)))
    }

    def saving(cand: RemovalCandidate) -> float | None:
        # open candidates: the current seat price (or price difference); closed: as recorded
        if CandidateState(cand.state).is_open and cand.software_model_id in prices:
            value = downgrade.saving_of(
                cand.action, cand.software_model_id, cand.target_model_id, prices
            )
        else:
            value = cand.potential_savings
        return None if value is None else float(value)

    return [
        CandidateView(
            id=cand.id,
            profile=prof.name,
            external_id=sub.external_id,
            username=sub.username,
            email=sub.email,
            software_model=model.display_name,
            state=cand.state,
            justification=cand.justification,
            inactive_days=cand.inactive_days,
            last_activity_at=sub.last_activity_at,
            potential_savings=saving(cand),
            created_at=cand.created_at,
            reason=cand.reason,
            last_error=cand.last_error,
            deadline_at=cand.deadline_at,
            answer=cand.answer,
            approver=cand.approver,
            approved_at=cand.approved_at,
            realised_saving=(None if cand.realised_saving is None else float(cand.realised_saving)),
            kept_until=keeps.kept_until_now(now, sub.kept_until),
            action=cand.action,
            target_model=targets.get(cand.target_model_id or 0),
        )
        for cand, sub, prof, model in rows
    ]


def list_candidates(
    session: Session,
    *,
    state: str | None = None,
    profile: str | None = None,
    ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> list[CandidateView]:
    """Every removal candidate, biggest saving first (the order of :func:`page_candidates`);
    ``state``, ``profile`` and ``ids`` filter them. ``now``: open candidates are priced by the
    entitlements in term that day, and a seat's keep shows while in force then (without it:
    over all entitlements; as stored). A listing served to many (API, web) pages instead."""
    query = _filtered(session, candidate_query(), state=state, profile=profile, ids=ids)
    return _views(session, session.execute(query.order_by(*_QUEUE_ORDER)), now)


# --- keyset pages of the queue --------------------------------------------------------------

# Biggest recorded saving first, then the longest idle; ties by id. The recorded saving and
# idle days are NULL last. Pages are read as two segments (savings known, then unknown) so
# that the (state, potential_savings, inactive_days, id) index serves each page on both
# stores: a page costs what it holds, however deep.
_saving, _idle, _id = (
    RemovalCandidate.potential_savings,
    RemovalCandidate.inactive_days,
    RemovalCandidate.id,
)
_QUEUE_ORDER = (_saving.desc().nulls_last(), _idle.desc().nulls_last(), _id)
_CURSOR_KIND = "candidates"
_MAX_SAVING = Decimal("1e10")  # Numeric(14, 4)


def encode_candidate_cursor(saving: Decimal | None, idle: int | None, last_id: int) -> str:
    value = None if saving is None else str(saving)
    raw = json.dumps([_CURSOR_KIND, value, idle, last_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_candidate_cursor(cursor: str) -> tuple[Decimal | None, int | None, int]:
    """(recorded saving, idle days, id) of the last candidate of the previous page; anything
    but what :func:`encode_candidate_cursor` made (another listing's cursor included) is a
    ``CursorError`` (a 4xx) and never reaches the database."""
    refused = CursorError("cursor is not one this listing handed out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise refused from None
    if not isinstance(parsed, list) or len(parsed) != 4 or parsed[0] != _CURSOR_KIND:
        raise refused
    _, text, idle, last_id = parsed
    if type(last_id) is not int or not 0 <= last_id <= MAX_ID:
        raise refused
    if idle is not None and (type(idle) is not int or not -MAX_ID <= idle <= MAX_ID):
        raise refused
    saving: Decimal | None = None
    if text is not None:
        if not isinstance(text, str) or len(text) > 40:
            raise refused
        try:
            saving = Decimal(text)
        except ArithmeticError:
            raise refused from None
        if not saving.is_finite() or abs(saving) >= _MAX_SAVING:
            raise refused
    return saving, idle, last_id


def _after_idle(idle: int | None, last_id: int) -> ColumnElement[bool]:
    """Beyond (idle, id) among candidates with the same recorded saving."""
    if idle is None:
        return and_(_idle.is_(None), _id > last_id)
    return or_(_idle < idle, _idle.is_(None), and_(_idle == idle, _id > last_id))


def page_candidates(
    session: Session,
    *,
    state: str | None = None,
    profile: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> CandidatePage:
    """One page of the queue (the order of :func:`list_candidates`); pass ``next_cursor``
    back as ``cursor`` for the next one. Each page reads at most ``limit + 1`` candidates."""
    base = _filtered(session, candidate_query(), state=state, profile=profile, ids=None)
    after = decode_candidate_cursor(cursor) if cursor else None
    by_value = (_saving.desc(), _idle.desc().nulls_last(), _id)
    by_idle = (_idle.desc().nulls_last(), _id)
    known, unknown = _saving.is_not(None), _saving.is_(None)
    plan: list[tuple[ColumnElement[bool], tuple[Any, ...]]]
    if after is None:
        plan = [(known, by_value), (unknown, by_idle)]
    elif after[0] is None:  # the previous page ended among the unknown savings
        plan = [(and_(unknown, _after_idle(after[1], after[2])), by_idle)]
    else:
        saving, idle, last_id = after
        beyond = and_(
            known,
            _saving <= saving,  # the range the index seeks to
            or_(_saving < saving, and_(_saving == saving, _after_idle(idle, last_id))),
        )
        plan = [(beyond, by_value), (unknown, by_idle)]
    rows = keyset.read(session, (base.where(w).order_by(*order) for w, order in plan), limit)
    shown = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = shown[-1][0]
        next_cursor = encode_candidate_cursor(last.potential_savings, last.inactive_days, last.id)
    return CandidatePage(items=_views(session, shown, now), next_cursor=next_cursor)


def count_candidates(
    session: Session, *, state: str | None = None, profile: str | None = None
) -> int:
    """How many candidates the filters select (one COUNT, served by the index)."""
    query = _filtered(
        session,
        select(func.count()).select_from(RemovalCandidate),
        state=state,
        profile=profile,
        ids=None,
    )
    return int(session.execute(query).scalar_one())


def candidate_totals(
    session: Session, *, state: str | None = None, profile: str | None = None
) -> CandidateTotals:
    """What the filters select, in total: how many candidates and their potential savings a
    year per currency (each model's seat-price currency; ``unpriced``: candidates without a
    saving). One grouped query per model, whatever the size of the queue."""
    query = _filtered(
        session,
        select(
            RemovalCandidate.software_model_id,
            func.count(),
            func.sum(RemovalCandidate.potential_savings),
            func.count(RemovalCandidate.potential_savings),
        ).group_by(RemovalCandidate.software_model_id),
        state=state,
        profile=profile,
        ids=None,
    )
    rows = session.execute(query).all()
    prices = seat_prices(session, [model_id for model_id, *_ in rows])
    currencies: dict[int, str] = {
        model_id: currency
        for model_id, currency in session.execute(
            select(SoftwareModel.id, SoftwareModel.currency).where(
                SoftwareModel.id.in_([model_id for model_id, *_ in rows])
            )
        )
    }
    money: dict[str, Decimal] = {}
    count = unpriced = 0
    for model_id, many, saving, priced in rows:
        count += int(many)
        unpriced += int(many) - int(priced)
        if saving is not None:
            price = prices.get(model_id)
            currency = price.currency if price is not None else currencies[model_id]
            money[currency] = money.get(currency, Decimal(0)) + Decimal(saving)
    return CandidateTotals(
        count=count,
        annual={c: float(round(v, 2)) for c, v in sorted(money.items())},
        unpriced=unpriced,
    )


def reclaim_summary(session: Session, ids: Sequence[int]) -> ReclaimSummary:
    """What reclaiming these candidates frees: how many seats, of which apps, and how much
    money a year per currency (the models' current seat prices, else as recorded)."""
    rows = session.execute(
        select(
            RemovalCandidate.software_model_id,
            RemovalCandidate.potential_savings,
            SoftwareModel,
            RemovalCandidate.action,
            RemovalCandidate.target_model_id,
        )
        .join(SoftwareModel, SoftwareModel.id == RemovalCandidate.software_model_id)
        .where(RemovalCandidate.id.in_(list(ids)))
    ).all()
    prices = seat_prices(session)
    money: dict[str, Decimal] = {}
    apps: set[str] = set()
    unpriced = 0
    for model_id, recorded, model, action, target in rows:
        apps.add(model.display_name)
        price = prices.get(model_id)
        current = downgrade.saving_of(action, model_id, target, prices)
        value = current if current is not None else recorded
        currency = price.currency if price is not None else model.currency
        if value is None:
            unpriced += 1
            continue
        money[currency] = money.get(currency, Decimal(0)) + Decimal(value)
    return ReclaimSummary(
        seats=len(rows),
        apps=sorted(apps),
        annual={c: float(round(v, 2)) for c, v in sorted(money.items())},
        unpriced=unpriced,
    )


@dataclass
class _Work:
    candidate_id: int
    profile_id: int
    profile_name: str
    ref: AccountRef
    admin_excluded: bool
    excluded_users: frozenset[str]
    excluded_domains: tuple[str, ...]
    threshold_days: int
    last_activity_at: datetime | None
    is_owner: bool
    model_id: int = 0
    model_name: str = ""
    in_flight: bool = False
    state: str = CandidateState.READY.value
    left_organisation: bool = False
    reserved: bool = False  # this run's reservation in the reclaim ledger
    called: bool = False  # marked in flight by this run: the app is being asked
    # a downgrade: move the account to this edition (of the same app) instead of removing it
    downgrade_to: str | None = None


def _select_work(
    session: Session, ids: Sequence[int] | None, all_ready: bool, now: datetime
) -> list[_Work]:
    reclaimable = or_(
        RemovalCandidate.state.in_(RECLAIMABLE), in_flight(), decided_for_removal(now)
    )
    query = (
        candidate_query()
        .add_columns(ReclamationRule, reclaimable.label("reclaimable"), in_flight().label("ifl"))
        .outerjoin(ReclamationRule, ReclamationRule.id == RemovalCandidate.rule_id)
    )
    if ids:
        query = query.where(RemovalCandidate.id.in_(ids))
    elif all_ready:
        # ready candidates of rules that notify are asked first (`candidates advance`)
        silent = or_(ReclamationRule.id.is_(None), ReclamationRule.notify.is_(False))
        query = query.where(or_(and_(RemovalCandidate.state.in_(RECLAIMABLE), silent), in_flight()))
    else:
        raise ReclaimError("name candidate ids or use --all-ready")
    rows = session.execute(query.order_by(RemovalCandidate.id)).all()
    for prof in {row[2].name: row[2] for row in rows}.values():
        if not prof.process_reclaim:
            raise ReclaimError(
                f"the reclaim process of profile {prof.name!r} is off: turn it on with "
                f"`shelfware profile set {prof.name} --reclaim`, or revoke the seats by hand"
            )
    if ids:
        found = {row[0].id for row in rows}
        missing = sorted(set(ids) - found)
        if missing:
            raise CandidateNotFound(f"no removal candidate with id {', '.join(map(str, missing))}")
        not_ready = [f"{row[0].id} ({row[0].state})" for row in rows if not row[5]]
        if not_ready:
            raise ReclaimError(
                "only candidates that are ready, decided for removal (released, past their "
                "deadline, approved) or in flight can be reclaimed; not: " + ", ".join(not_ready)
            )
    work = []
    for cand, sub, prof, model, rule, _reclaimable, flying in rows:
        work.append(
            _Work(
                candidate_id=cand.id,
                profile_id=prof.id,
                profile_name=prof.name,
                ref=AccountRef(sub.external_id, sub.username, sub.email),
                admin_excluded=rule.exclude_admins if rule else True,
                excluded_users=frozenset(
                    str(u).strip().lower() for u in (rule.excluded_users if rule else [])
                ),
                excluded_domains=tuple(
                    str(d).strip().lower().lstrip("@")
                    for d in (rule.excluded_domains if rule else [])
                ),
                threshold_days=rule.threshold_days if rule else profiles.DEFAULT_THRESHOLD_DAYS,
                last_activity_at=sub.last_activity_at,
                is_owner=sub.external_id == prof.credential_owner_external_id,
                model_id=model.id,
                model_name=model.display_name,
                in_flight=bool(flying),
                state=cand.state,
                # decided by a person whatever the activity: a leaver, a reviewer's revoke
                left_organisation=cand.justification in DECIDED_WHATEVER_ACTIVITY,
                downgrade_to=(
                    rule.target_model.edition
                    if cand.action == downgrade.DOWNGRADE and rule and rule.target_model
                    else None
                ),
            )
        )
    return work


def _cancel_reason(work: _Work, current: AccountRecord, now: datetime) -> str | None:
    """Why the re-read account must not be reclaimed, or None."""
    if work.is_owner:
        return "the account is the one the profile's credential belongs to"
    if current.unrecognised:
        return f"the connector does not know the account's role or status ({current.unrecognised})"
    if work.admin_excluded and current.admin:
        return "the account is now an admin"
    names = {(current.username or "").lower(), (current.email or "").lower()} - {""}
    if names & work.excluded_users:
        return "the account is excluded by the rule"
    email = (current.email or "").lower()
    if any(email.endswith("@" + d) for d in work.excluded_domains if d):
        return "the account's domain is excluded by the rule"
    if work.downgrade_to is not None:
        return None  # a light user is active by definition: activity never cancels a downgrade
    if current.last_activity_at is not None and not work.left_organisation:
        # a person who left loses the seat whatever their activity (DOMAIN.md)
        idle_days = (now - current.last_activity_at).total_seconds() / 86400
        if idle_days <= work.threshold_days:
            return f"the account was active on {current.last_activity_at:%Y-%m-%d}"
    return None


@dataclass
class _Decision:
    work: _Work
    action: str
    message: str
    current: AccountRecord | None


Mark = Callable[[_Work], None]


async def _decide(
    connector: Connector, work: _Work, now: datetime, dry_run: bool, mark: Mark
) -> _Decision:
    try:
        current = await connector.current(work.ref)
        # vendor values made storable, as a sync would (a year-9999 date is no activity)
        current = None if current is None else clean_account(current)
    except Exception as exc:  # the re-read failed: never reclaim blind
        return _Decision(work, "unreachable", f"could not re-read the account: {exc}", None)
    if current is None or not current.active:
        if work.downgrade_to is not None:
            why = "the account is gone or disabled: there is nothing to move"
            return _Decision(work, "would_cancel" if dry_run else "canceled", why, current)
        return _Decision(work, "already_gone", "the account is already gone or disabled", current)
    reason = _cancel_reason(work, current, now)
    if reason:
        return _Decision(work, "would_cancel" if dry_run else "canceled", reason, current)
    if work.downgrade_to is not None and current.edition == work.downgrade_to:
        verb = "would_downgrade" if dry_run else "downgraded"
        return _Decision(work, verb, f"already in {work.downgrade_to}", current)
    if dry_run:
        verb = "would_downgrade" if work.downgrade_to is not None else "would_reclaim"
        return _Decision(work, verb, "", current)
    try:
        mark(work)  # in flight before the app is called: a crash now is resumed, not lost
    except Exception as exc:
        return _Decision(work, "unreachable", f"could not mark the reclaim in flight: {exc}", None)
    try:
        result = await _carry_out(connector, work)
    except Exception as exc:
        return _Decision(work, "failed", str(exc), current)
    if result.outcome is ReclaimOutcome.FAILED:
        return _Decision(work, "failed", result.message, current)
    if work.downgrade_to is not None:
        if result.outcome is ReclaimOutcome.ALREADY_GONE:
            return _Decision(work, "failed", result.message or "the account is gone", current)
        return _Decision(work, "downgraded", result.message, current)
    action = "already_gone" if result.outcome is ReclaimOutcome.ALREADY_GONE else "reclaimed"
    return _Decision(work, action, result.message, current)


async def _carry_out(connector: Connector, work: _Work) -> ReclaimResult:
    """Remove the seat, or move the account to the downgrade's edition."""
    if work.downgrade_to is None:
        return await connector.reclaim(work.ref)
    if not isinstance(connector, Downgrader):
        return ReclaimResult(
            ReclaimOutcome.FAILED,
            f"the {connector.kind} connector cannot change an account's edition: move it to "
            f"{work.downgrade_to} in the app by hand",
        )
    return await connector.downgrade(work.ref, work.downgrade_to)


def _apply(
    session: Session,
    clock: Clock,
    decision: _Decision,
    now: datetime,
    prices: dict[int, SeatPrice],
) -> str:
    cand = session.get_one(RemovalCandidate, decision.work.candidate_id)
    sub = session.get_one(Subscription, cand.subscription_id)
    current = decision.current
    if (
        current is not None
        and current.last_activity_at is not None
        and (sub.last_activity_at is None or current.last_activity_at > sub.last_activity_at)
    ):
        sub.last_activity_at = current.last_activity_at  # forward-only
    if current is not None and sub.admin != current.admin:
        sub.admin = current.admin
        sub.fingerprint = None  # a field the sync tracks: its next run stages the account
    # the vendor's words (an error, a refusal) are stored: without what a store refuses (NUL)
    action, message = decision.action, strip_unstorable(decision.message)
    if action in ("reclaimed", "already_gone", "downgraded"):
        # a downgrade keeps its price difference; the next sync closes it once the account
        # shows in the target edition
        price = prices[cand.software_model_id].annual if cand.software_model_id in prices else None
        if price is not None and action != "downgraded":
            cand.unit_cost = cand.potential_savings = price
        why = message or (
            "moved to the target edition through the app's API"
            if action == "downgraded"
            else "reclaimed through the app's API"
        )
        done: dict[str, Any] = {"reclaimed_at": now, "last_error": None}
        if cand.state == CandidateState.AWAITING_REVOCATION:  # was marked in flight
            for name, value in done.items():
                setattr(cand, name, value)
            cand.reason = why
            states.note(session, clock, cand, action, why=why)
        else:
            states.move(session, clock, cand, CandidateState.AWAITING_REVOCATION, why=why, **done)
    elif action == "canceled":
        states.move(session, clock, cand, CandidateState.CLOSED_CANCELED, why=message)
    elif action == "failed":  # the reclaim itself failed: a person should look
        states.move(
            session, clock, cand, CandidateState.ATTENTION_REQUIRED, why=message, last_error=message
        )
    else:  # unreachable, not_attempted: nothing happened in the app
        cand.last_error = message
        states.note(session, clock, cand, action, why=message)
    return str(cand.state)


def _mark_in_flight(db: Database, clock: Clock) -> Mark:
    def mark(work: _Work) -> None:
        if work.in_flight:
            return
        with db.transaction() as session:
            cand = session.get_one(RemovalCandidate, work.candidate_id)
            states.move(
                session,
                clock,
                cand,
                CandidateState.AWAITING_REVOCATION,
                why=(
                    f"downgrade in flight: the app is being asked to move the account to "
                    f"{work.downgrade_to}"
                    if work.downgrade_to is not None
                    else "reclaim in flight: the app is being asked to remove the seat"
                ),
                reclaim_requested_at=clock.now(),
            )
        work.in_flight = work.called = True

    return mark


def seats_held(session: Session, model_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(Subscription.software_model_id, func.count())
        .where(
            Subscription.software_model_id.in_(model_ids),
            Subscription.active.is_(True),
            Subscription.gone_at.is_(None),
        )
        .group_by(Subscription.software_model_id)
    )
    return {model_id: int(count) for model_id, count in rows}


@dataclass
class _Usage:
    model_id: int
    model_name: str
    seats: int
    allowed: int
    used: int  # reclaims started in the window (in flight included)
    new: list[int]  # this run's candidates not yet counted in the window


def _usage(session: Session, work: Sequence[_Work], limits: Limits, now: datetime) -> list[_Usage]:
    """Per model: what the window already holds and what this run would add. Candidates in
    flight and candidates already in the window's ledger were counted when they started."""
    fresh = [w for w in work if not w.in_flight]
    if not fresh:
        return []
    L = ReclaimLedgerEntry
    since = now - limits.window
    model_ids = sorted({w.model_id for w in fresh})
    used = _used_in_window(session, model_ids, since)
    counted = set(
        session.scalars(
            select(L.candidate_id).where(
                L.candidate_id.in_([w.candidate_id for w in fresh]), L.started_at > since
            )
        )
    )
    held = seats_held(session, model_ids)
    usage: dict[int, _Usage] = {}
    for item in fresh:
        if item.model_id not in usage:
            seats = held.get(item.model_id, 0)
            usage[item.model_id] = _Usage(
                item.model_id,
                item.model_name,
                seats,
                limits.allowed(seats),
                int(used.get(item.model_id, 0)),
                [],
            )
        if item.candidate_id not in counted:
            usage[item.model_id].new.append(item.candidate_id)
    return [usage[m] for m in model_ids]


def _used_in_window(session: Session, model_ids: Sequence[int], since: datetime) -> dict[int, int]:
    """Per model: the reclaims the ledger holds since ``since`` (the window)."""
    L = ReclaimLedgerEntry
    return {
        model_id: int(count)
        for model_id, count in session.execute(
            select(L.software_model_id, func.count(distinct(L.candidate_id)))
            .where(L.software_model_id.in_(model_ids), L.started_at > since)
            .group_by(L.software_model_id)
        )
    }


def prune_ledger(session: Session, now: datetime, limits: Limits, keep: timedelta) -> int:
    """Delete the ledger's reclaims that started before both the cap's window and ``keep``
    (the jobs' keep span): no cap counts them again, and the audit trail keeps each reclaim.
    How many were deleted."""
    L = ReclaimLedgerEntry
    before = now - max(limits.window, keep)
    statement = delete(L).where(L.started_at < before).execution_options(synchronize_session=False)
    return rowcount(session.execute(statement))


def cap_verdict(
    session: Session, fresh: Mapping[int, tuple[str, int]], limits: Limits, now: datetime
) -> str | None:
    """Why starting ``fresh`` reclaims (per model id: its name and how many seats, none of
    them counted in the window yet) would exceed the cap, or None. Reads only; the reclaim
    itself checks again when it reserves (:func:`reclaim_candidates`)."""
    model_ids = sorted(m for m, (_, count) in fresh.items() if count)
    if not model_ids:
        return None
    used = _used_in_window(session, model_ids, now - limits.window)
    held = seats_held(session, model_ids)
    usage = [
        _Usage(
            model_id,
            fresh[model_id][0],
            held.get(model_id, 0),
            limits.allowed(held.get(model_id, 0)),
            used.get(model_id, 0),
            list(range(fresh[model_id][1])),
        )
        for model_id in model_ids
    ]
    return over_cap(usage, limits)


def _accounts(n: int) -> str:
    return f"{n} account{'s' if n != 1 else ''}"


def over_cap(usage: Sequence[_Usage], limits: Limits) -> str | None:
    """Why the run would exceed the cap (the first model over it), or None."""
    for model in usage:
        if model.new and model.used + len(model.new) > model.allowed:
            return (
                f"this run would reclaim {_accounts(len(model.new))} of {model.model_name}, "
                f"but {model.used} of the {model.allowed} allowed in the last {limits.hours} "
                f"already reclaimed (the reclaim cap: at most {limits.max_percent:g}% of its "
                f"{model.seats} seats and {_accounts(limits.max_accounts)} per model in any "
                f"{limits.hours})"
            )
    return None


def _reserve(
    db: Database,
    clock: Clock,
    work: list[_Work],
    limits: Limits,
    override: Override | None,
    dry_run: bool,
    now: datetime,
) -> None:
    """Check the window and reserve this run's reclaims in the ledger, in one transaction
    serialised per model (PostgreSQL: the models' rows locked; SQLite: its write lock), so two
    runs in any processes never both take the last room. Over the cap the run stops before the
    first reclaim, unless an admin overrides it with a reason (recorded in the audit trail)."""
    check_override(override)
    fresh_models = sorted({w.model_id for w in work if not w.in_flight})
    if not fresh_models:
        return
    with db.transaction() as session:
        if not dry_run:
            lock_rows(session, SoftwareModel.__table__.c.id, fresh_models)
        usage = _usage(session, work, limits, now)
        why = over_cap(usage, limits)
        if why is not None:
            if override is None:
                raise CapExceeded(
                    f"{'a real run would stop' if dry_run else 'stopped'} before the first "
                    f"reclaim: {why}; name fewer candidates, wait for the window to move on, "
                    "or force it with a reason (admins only: --force --reason TEXT)"
                )
            if not dry_run:
                audit.record(
                    session,
                    clock,
                    action="reclaim.forced",
                    object_type="reclaim_run",
                    object_id="-",
                    actor=override.by,
                    reason=override.reason,
                    over_cap=why,
                    candidates=[w.candidate_id for w in work],
                )
        if dry_run:
            return
        forced = why is not None
        actor = override.by if override is not None else audit.current_actor()
        for model in usage:
            for cand_id in model.new:
                session.add(
                    ReclaimLedgerEntry(
                        software_model_id=model.model_id,
                        candidate_id=cand_id,
                        started_at=now,
                        actor=actor[:200],
                        forced=forced,
                    )
                )
        reserved = {c for model in usage for c in model.new}
        for item in work:
            item.reserved = item.candidate_id in reserved


def _release(session: Session, decisions: Sequence[_Decision], now: datetime) -> None:
    """Take back this run's reservations of seats the app was never asked to remove."""
    untouched = [d.work.candidate_id for d in decisions if d.work.reserved and not d.work.called]
    if untouched:
        session.execute(
            delete(ReclaimLedgerEntry).where(
                ReclaimLedgerEntry.candidate_id.in_(untouched),
                ReclaimLedgerEntry.started_at == now,
            )
        )


async def reclaim_candidates(
    db: Database,
    keys: KeyRing,
    clock: Clock,
    *,
    ids: Sequence[int] | None = None,
    all_ready: bool = False,
    dry_run: bool = False,
    override: Override | None = None,
    settings: Settings | None = None,
    open_connector: Any = profiles.open_connector,
    on_progress: Any = None,
    batch: int = 200,
) -> list[ReclaimOutcomeView]:
    """Re-read and reclaim candidates, per profile, concurrently within each connector's limit.

    Every reclaim is under the blast-radius cap (:class:`Limits`, from the configuration:
    ``settings``, else the environment's): per software model, in the rolling window, counted
    in the reclaim ledger across every face, process and worker. A run over it stops before
    the first reclaim (CapExceeded; a dry run says the real run would), unless an admin's
    ``override`` with a reason (ForceNotAllowed for anyone else). The check and the
    reservation are one transaction serialised per model.

    Each candidate is marked in flight (``awaiting_revocation``) before the app is called;
    a rerun after a crash re-reads in-flight candidates first, so an account the app already
    disabled counts as done and is never reclaimed twice. Outcomes are committed in batches
    as they come. After ``STOP_AFTER_FAILURES`` failures in a row for one profile (the app is
    down, the credential was revoked...) the rest of that profile's candidates are not
    attempted; they are reported as ``not_attempted`` and stay as they are.
    """
    check_override(override)
    now = clock.now()
    limits = Limits.of(settings or get_settings())
    with db.transaction() as session:
        work = _select_work(session, ids, all_ready, now)
    _reserve(db, clock, work, limits, override, dry_run, now)
    by_profile: dict[int, list[_Work]] = {}
    for item in work:
        by_profile.setdefault(item.profile_id, []).append(item)
    with db.transaction() as session:
        connectors = {
            pid: open_connector(session.get_one(IntegrationProfile, pid), keys)
            for pid in by_profile
        }
    for pid, connector in connectors.items():
        authorization.listen_for_rotations(connector, db, keys, clock, pid)
    outcomes: list[ReclaimOutcomeView] = []
    mark = _mark_in_flight(db, clock)
    try:
        for pid, items in by_profile.items():
            decisions = _decide_all(connectors[pid], items, now, dry_run, mark)
            done_batch: list[_Decision] = []
            async for decision in decisions:
                done_batch.append(decision)
                if on_progress:
                    on_progress(1)
                if len(done_batch) >= batch:
                    outcomes += _record(db, clock, done_batch, now, dry_run)
                    done_batch = []
            outcomes += _record(db, clock, done_batch, now, dry_run)
    finally:
        for connector in connectors.values():
            await connector.aclose()
    outcomes.sort(key=lambda o: o.candidate_id)
    return outcomes


async def _decide_all(
    connector: Connector, items: list[_Work], now: datetime, dry_run: bool, mark: Mark
) -> AsyncIterator[_Decision]:
    """Decisions as they complete, from a bounded pool of workers, with a circuit breaker."""
    queue: asyncio.Queue[_Work] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results: asyncio.Queue[_Decision | None] = asyncio.Queue()
    failures_in_a_row = 0
    stopped_by: str | None = None

    async def worker() -> None:
        nonlocal failures_in_a_row, stopped_by
        while stopped_by is None:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            decision = await _decide(connector, item, now, dry_run, mark)
            if decision.action in FAILED_ACTIONS:
                failures_in_a_row += 1
                if failures_in_a_row >= STOP_AFTER_FAILURES and stopped_by is None:
                    stopped_by = decision.message
            else:
                failures_in_a_row = 0
            await results.put(decision)
        await results.put(None)

    workers = [asyncio.create_task(worker()) for _ in range(min(RECLAIMS_IN_FLIGHT, len(items)))]
    try:
        running = len(workers)
        while running:
            decision = await results.get()
            if decision is None:
                running -= 1
            else:
                yield decision
        while stopped_by is not None and not queue.empty():
            item = queue.get_nowait()
            yield _Decision(
                item,
                "not_attempted",
                f"stopped after {STOP_AFTER_FAILURES} failures in a row: {stopped_by}",
                None,
            )
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _record(
    db: Database, clock: Clock, decisions: list[_Decision], now: datetime, dry_run: bool
) -> list[ReclaimOutcomeView]:
    views = []
    if dry_run:
        return [
            ReclaimOutcomeView(
                candidate_id=d.work.candidate_id,
                profile=d.work.profile_name,
                username=d.work.ref.username,
                action=d.action,
                state=d.work.state,
                message=d.message,
            )
            for d in decisions
        ]
    with db.transaction() as session:
        _release(session, decisions, now)
        prices = seat_prices(session, on=day_of(now))
        for decision in decisions:
            state = _apply(session, clock, decision, now, prices)
            views.append(
                ReclaimOutcomeView(
                    candidate_id=decision.work.candidate_id,
                    profile=decision.work.profile_name,
                    username=decision.work.ref.username,
                    action=decision.action,
                    state=state,
                    message=decision.message,
                )
            )
    return views
