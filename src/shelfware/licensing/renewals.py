"""Renewals: how many seats to renew, and the owner's alerts before each notice date.

The recommended seat count is the model's active seats (used minus stale) plus a buffer;
an entitlement renews its seats less what the model owns beyond that. The renewals report,
the alert and the calendar feed all take it from ``right_size``.

Alerts: ``SHELFWARE_RENEWAL_ALERT_DAYS`` (90, 60, 30) days before an entitlement's notice
date its owner gets one email per threshold. The nearest threshold passed is the one sent
(an owner set 20 days before the notice gets the 30-day alert, not three at once). Each send
is claimed first: a ``renewal_alert`` row, unique per (entitlement, notice date, threshold),
inserted and committed before the message goes, so two workers (or a restart) never send
it twice. A failed send, or a claim whose worker died while sending (older than
``CLAIM_STALE``), is taken again by a later run, at most ``MAX_ATTEMPTS`` times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.kit.db import Database, rowcount
from shelfware.licensing.pricing import CENT, annualise, day_of
from shelfware.licensing.schemas import ReconciliationRow
from shelfware.models import Entitlement, RenewalAlert, SoftwareModel
from shelfware.notifications.service import DeliveryError, Message, Notifier

CLAIM_STALE = timedelta(hours=1)
MAX_ATTEMPTS = 5
E = Entitlement.__table__.c
A = RenewalAlert.__table__.c


@dataclass(frozen=True)
class RightSize:
    """An entitlement at renewal: the seats to renew and what renewing fewer saves a year."""

    active: int  # the model's used, not stale, seats
    recommended: int  # active plus the buffer (whole seats, rounded up)
    renew_seats: int  # this entitlement's seats less what the model owns beyond `recommended`
    drop: int
    annual_unit: Decimal | None
    saving: Decimal | None  # None: no price


def right_size(
    seats: int,
    unit_cost: Decimal | None,
    billing_period: str,
    position: ReconciliationRow,
    buffer_percent: float = 0.0,
) -> RightSize:
    active = max(0, position.rights_used - position.stale)
    factor = (Decimal(100) + Decimal(str(buffer_percent))) / Decimal(100)
    recommended = math.ceil(Decimal(active) * factor)
    drop = min(seats, max(0, position.rights_owned - recommended))
    unit = annualise(Decimal(unit_cost), billing_period) if unit_cost is not None else None
    return RightSize(
        active=active,
        recommended=recommended,
        renew_seats=seats - drop,
        drop=drop,
        annual_unit=unit,
        saving=None if unit is None else (unit * drop).quantize(CENT),
    )


def utilisation_percent(position: ReconciliationRow) -> float | None:
    if not position.rights_owned:
        return None
    return round(100 * position.rights_used / position.rights_owned, 1)


def renewal_link(public_url: str, entitlement_id: int) -> str:
    """The renewal in the workspace: the entitlement's row on the entitlements page."""
    return f"{public_url.rstrip('/')}/entitlements#entitlement-{entitlement_id}"


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class DueAlert:
    entitlement_id: int
    software_model_id: int
    notice_date: date
    threshold_days: int
    owner: str


def nearest_threshold(notice: date, today: date, thresholds: Sequence[int]) -> int | None:
    """The smallest threshold whose day (notice - threshold) has come, while the notice date
    is today or ahead; None when none has."""
    if notice < today:
        return None
    passed = [t for t in thresholds if notice - timedelta(days=t) <= today]
    return min(passed) if passed else None


def due_alerts(session: Session, today: date, thresholds: Sequence[int]) -> list[DueAlert]:
    """Alerts whose threshold has come and that were not sent yet (nor given up on after
    ``MAX_ATTEMPTS`` failed sends)."""
    if not thresholds:
        return []
    horizon = today + timedelta(days=max(thresholds))
    query = (
        select(E.id, E.software_model_id, E.notice_date, E.owner)
        .where(
            E.owner.is_not(None),
            E.notice_date.is_not(None),
            E.notice_date >= today,
            E.notice_date <= horizon,
        )
        .order_by(E.notice_date, E.id)
    )
    candidates = []
    for ent_id, model_id, notice, owner in session.execute(query):
        threshold = nearest_threshold(notice, today, thresholds)
        if threshold is not None:
            candidates.append(DueAlert(ent_id, model_id, notice, threshold, owner))
    if not candidates:
        return []
    done = {
        tuple(row)
        for row in session.execute(
            select(A.entitlement_id, A.notice_date, A.threshold_days).where(
                A.entitlement_id.in_([c.entitlement_id for c in candidates]),
                or_(A.state == "sent", A.attempts >= MAX_ATTEMPTS),
            )
        )
    }
    return [
        c for c in candidates if (c.entitlement_id, c.notice_date, c.threshold_days) not in done
    ]


def claim(db: Database, clock: Clock, alert: DueAlert, worker: str) -> bool:
    """Take the alert for this run (committed before anything is sent): a new row, or a
    failed or abandoned one taken over. False: another run has it, or it was sent."""
    now = clock.now()
    try:
        with db.transaction() as session:
            session.add(
                RenewalAlert(
                    entitlement_id=alert.entitlement_id,
                    notice_date=alert.notice_date,
                    threshold_days=alert.threshold_days,
                    owner=alert.owner,
                    state="sending",
                    attempts=1,
                    claimed_at=now,
                    claimed_by=worker[:200],
                )
            )
    except IntegrityError:
        pass
    else:
        return True
    with db.transaction() as session:
        taken = session.execute(
            update(RenewalAlert)
            .where(
                A.entitlement_id == alert.entitlement_id,
                A.notice_date == alert.notice_date,
                A.threshold_days == alert.threshold_days,
                A.attempts < MAX_ATTEMPTS,
                or_(
                    A.state == "failed",
                    and_(A.state == "sending", A.claimed_at < now - CLAIM_STALE),
                ),
            )
            .values(
                state="sending",
                claimed_at=now,
                claimed_by=worker[:200],
                attempts=A.attempts + 1,
                owner=alert.owner,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(taken) == 1


def _finish(db: Database, clock: Clock, alert: DueAlert, worker: str, error: str | None) -> None:
    with db.transaction() as session:
        session.execute(
            update(RenewalAlert)
            .where(
                A.entitlement_id == alert.entitlement_id,
                A.notice_date == alert.notice_date,
                A.threshold_days == alert.threshold_days,
                A.claimed_by == worker[:200],
            )
            .values(
                state="failed" if error else "sent",
                sent_at=None if error else clock.now(),
                error=error[:500] if error else None,
            )
            .execution_options(synchronize_session=False)
        )
        if error is None:
            audit.record(
                session,
                clock,
                action="renewal.alert",
                object_type="entitlement",
                object_id=alert.entitlement_id,
                notice_date=str(alert.notice_date),
                threshold_days=alert.threshold_days,
            )


def _money(value: Decimal | None) -> str:
    return "no price" if value is None else f"{value:,.2f}"


def alert_context(
    ent: Entitlement,
    model: SoftwareModel,
    position: ReconciliationRow,
    alert: DueAlert,
    today: date,
    buffer_percent: float,
    public_url: str,
) -> dict[str, Any]:
    """What the renewal message shows (every figure the renewals report has too)."""
    size = right_size(ent.seats, ent.unit_cost, ent.billing_period, position, buffer_percent)
    utilisation = utilisation_percent(position)
    return {
        "software_model": model.display_name,
        "contract_ref": ent.contract_ref or "",
        "entitlement_id": ent.id,
        "notice_date": alert.notice_date.isoformat(),
        "renewal_date": (ent.renewal_date or ent.term_end or alert.notice_date).isoformat(),
        "days_to_notice": (alert.notice_date - today).days,
        "threshold_days": alert.threshold_days,
        "seats": ent.seats,
        "owned": position.rights_owned,
        "used": position.rights_used,
        "stale": position.stale,
        "utilisation": "—" if utilisation is None else f"{utilisation:.1f}%",
        "buffer_percent": f"{buffer_percent:g}",
        "recommended": size.recommended,
        "renew_seats": size.renew_seats,
        "currency": ent.currency,
        "saving": _money(size.saving),
        "link": renewal_link(public_url, ent.id),
    }


@dataclass
class AlertReport:
    sent: list[tuple[int, int]] = field(default_factory=list)  # (entitlement, threshold)
    failed: dict[str, str] = field(default_factory=dict)  # "entitlement/threshold" -> why
    skipped: int = 0  # claimed by another run, or sent meanwhile

    def summary(self) -> dict[str, Any]:
        return {"sent": len(self.sent), "failed": self.failed, "skipped": self.skipped}


def send_renewal_alerts(
    db: Database,
    clock: Clock,
    notifier: Notifier,
    worker: str,
    *,
    thresholds: Sequence[int] | None = None,
    buffer_percent: float | None = None,
) -> AlertReport:
    """Send every due renewal alert once (see the module's docstring)."""
    from shelfware.licensing.service import reconcile  # the service imports this module

    settings = notifier.settings
    thresholds = settings.renewal_thresholds if thresholds is None else tuple(thresholds)
    buffer = settings.renewal_buffer_percent if buffer_percent is None else buffer_percent
    now = clock.now()
    today = day_of(now)
    report = AlertReport()
    if not notifier.configured:  # nothing claimed: the alerts wait for a channel
        report.failed["*"] = "no channel reaches people (set SHELFWARE_SMTP_HOST)"
        return report
    with db.sessions() as session:
        due = due_alerts(session, today, thresholds)
        if not due:
            return report
        positions = {p.software_model_id: p for p in reconcile(session, now)}
        messages = []
        for alert in due:
            ent = session.get_one(Entitlement, alert.entitlement_id)
            model = session.get_one(SoftwareModel, alert.software_model_id)
            context = alert_context(
                ent,
                model,
                positions[alert.software_model_id],
                alert,
                today,
                buffer,
                settings.public_url,
            )
            messages.append((alert, Message("renewal", alert.owner, context)))
    for alert, message in messages:
        if not claim(db, clock, alert, worker):
            report.skipped += 1
            continue
        try:
            notifier.send(message)
        except DeliveryError as exc:
            report.failed[f"{alert.entitlement_id}/{alert.threshold_days}"] = str(exc)
            _finish(db, clock, alert, worker, str(exc))
            continue
        _finish(db, clock, alert, worker, None)
        report.sent.append((alert.entitlement_id, alert.threshold_days))
    return report


def any_alert_due(session: Session, today: date, thresholds: Sequence[int]) -> bool:
    """For the schedule tick: an alert is due (the alerts' job is queued only then)."""
    return bool(due_alerts(session, today, thresholds))
