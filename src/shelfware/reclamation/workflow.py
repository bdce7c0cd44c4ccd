"""The reclamation workflow: ask the user, wait, decide, reclaim.

``advance`` is the periodic step (``shelfware candidates advance``, the scheduler's tick):

1. ready candidates whose rule notifies are asked ("keep" / "release" links, answer by the
   deadline: ``auto_reclaim_days`` from now), unless the same seat was asked about within the
   cooldown; without an email they need a person (``attention_required``);
2. one reminder ``reminder_days`` before the deadline;
3. a "keep" that needs approval is sent to the person's manager (directory), else the rule's
   approvers;
4. reclaim what is decided: "release", no answer by the deadline, removal approved, ready
   candidates of rules that do not notify once ``auto_reclaim_days`` passed (only with the
   ``auto_reclaim_unnotified`` setting: nobody was told, so by default a person reclaims them),
   and anything left in flight by an interrupted run; within the blast-radius cap.

Answers arrive through the links (``answer_by_link``) or the CLI (``record_answer``,
``approve``, ``decline``). Every state change goes through ``states``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.notifications.service import DeliveryError, Message, Notifier
from shelfware.reclamation import directory_port, links, states
from shelfware.reclamation.schemas import ReclaimOutcomeView
from shelfware.reclamation.service import (
    CandidateNotFound,
    Override,
    candidate_query,
    decided_for_removal,
    in_flight,
    reclaim_candidates,
)
from shelfware.settings import Settings

RC = RemovalCandidate
Row = tuple[RemovalCandidate, Subscription, IntegrationProfile, SoftwareModel, ReclamationRule]


@dataclass
class AdvanceReport:
    dry_run: bool = False
    notified: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    approvals_requested: list[int] = field(default_factory=list)
    cooling_down: list[int] = field(default_factory=list)
    needs_person: list[int] = field(default_factory=list)
    delivery_failed: dict[int, str] = field(default_factory=dict)
    due: list[int] = field(default_factory=list)
    reclaim: list[ReclaimOutcomeView] = field(default_factory=list)


def _rows(session: Session, *where: Any) -> list[Row]:
    query = (
        candidate_query()
        .add_columns(ReclamationRule)
        .join(ReclamationRule, ReclamationRule.id == RC.rule_id)
        .where(*where)
        .order_by(RC.id)
    )
    return [tuple(row) for row in session.execute(query)]


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


def _context(row: Row, settings: Settings, tokens: dict[str, str] | None) -> dict[str, Any]:
    cand, sub, prof, model, _rule = row
    base = settings.public_url.rstrip("/")
    return {
        "candidate_id": cand.id,
        "name": sub.display_name or sub.username or sub.email or sub.external_id,
        "username": sub.username or sub.external_id,
        "email": sub.email or "",
        "app": model.display_name,
        "profile": prof.name,
        "last_activity": _day(sub.last_activity_at),
        "inactive_days": cand.inactive_days,
        "deadline": _day(cand.deadline_at),
        "saving": f"{cand.potential_savings:,.2f}" if cand.potential_savings is not None else "—",
        "keep_url": f"{base}/answer/{tokens['keep']}" if tokens else "",
        "release_url": f"{base}/answer/{tokens['release']}" if tokens else "",
    }


def _ask(notifier: Notifier, template: str, to: list[str], context: dict[str, Any]) -> None:
    buttons = {}
    if context.get("keep_url"):
        buttons = {"Keep my seat": context["keep_url"], "Release it": context["release_url"]}
    notifier.send(Message(template, to, context, buttons))


def _recently_asked(now: datetime, cooldown_days: int) -> Any:
    """Another candidate of the same seat was notified within the cooldown."""
    other = aliased(RemovalCandidate)
    return exists().where(
        other.subscription_id == RC.subscription_id,
        other.id != RC.id,
        other.notified_at.is_not(None),
        other.notified_at > now - timedelta(days=cooldown_days),
    )


def _deliver(
    db: Database,
    report: AdvanceReport,
    done: list[int],
    cand_id: int,
    step: Callable[[Session, RemovalCandidate], bool],
) -> None:
    """One message in one transaction: ``step`` sends it and records it (False: nothing to
    do any more); a failed delivery rolls all of it back (no link, no state change)."""
    done.append(cand_id)
    if report.dry_run:
        return
    try:
        with db.transaction() as session:
            if not step(session, session.get_one(RemovalCandidate, cand_id)):
                done.remove(cand_id)
    except DeliveryError as exc:
        done.remove(cand_id)
        report.delivery_failed[cand_id] = str(exc)


def _notify_ready(
    db: Database, keys: KeyRing, clock: Clock, notifier: Notifier, report: AdvanceReport
) -> None:
    settings = notifier.settings
    now = clock.now()
    with db.sessions() as session:
        rows = _rows(
            session,
            RC.state == CandidateState.READY.value,
            ReclamationRule.notify.is_(True),
            IntegrationProfile.process_reclaim.is_(True),
        )
        cooling = set(
            session.scalars(
                select(RC.id).where(
                    RC.id.in_([r[0].id for r in rows]),
                    _recently_asked(now, settings.notify_cooldown_days),
                )
            )
        )
    for row in rows:
        cand, sub, *_ = row
        if cand.id in cooling:
            report.cooling_down.append(cand.id)
            continue
        if not sub.email:
            report.needs_person.append(cand.id)
            if not report.dry_run:
                with db.transaction() as session:
                    states.move(
                        session,
                        clock,
                        session.get_one(RemovalCandidate, cand.id),
                        CandidateState.ATTENTION_REQUIRED,
                        why="notify is on but the account has no email: add one, or turn "
                        "notify off for this rule",
                    )
            continue
        email = sub.email
        deadline = now + timedelta(days=max(1, row[4].auto_reclaim_days))

        def notice(
            session: Session,
            fresh: RemovalCandidate,
            row: Row = row,
            email: str = email,
            deadline: datetime = deadline,
        ) -> bool:
            if fresh.state != CandidateState.READY.value:
                return False
            tokens = links.issue(session, keys, clock, fresh.id, deadline)
            row[0].deadline_at = deadline
            _ask(notifier, "notice", [email], _context(row, settings, tokens))
            states.move(
                session,
                clock,
                fresh,
                CandidateState.AWAITING_USER,
                why=f"asked {email} to keep or release the seat by {deadline:%Y-%m-%d}",
                notified_at=now,
                deadline_at=deadline,
            )
            return True

        _deliver(db, report, report.notified, cand.id, notice)


def _remind(
    db: Database, keys: KeyRing, clock: Clock, notifier: Notifier, report: AdvanceReport
) -> None:
    settings = notifier.settings
    if settings.reminder_days <= 0:
        return
    now = clock.now()
    with db.sessions() as session:
        rows = _rows(
            session,
            RC.state == CandidateState.AWAITING_USER.value,
            RC.answer.is_(None),
            RC.reminded_at.is_(None),
            RC.deadline_at > now,
            RC.deadline_at <= now + timedelta(days=settings.reminder_days),
            Subscription.email.is_not(None),
        )
    for row in rows:

        def reminder(session: Session, fresh: RemovalCandidate, row: Row = row) -> bool:
            email, deadline = row[1].email or "", fresh.deadline_at or now
            tokens = links.issue(session, keys, clock, fresh.id, deadline)
            _ask(notifier, "reminder", [email], _context(row, settings, tokens))
            fresh.reminded_at = now
            states.note(session, clock, fresh, "reminded", why=f"reminded {email}")
            return True

        _deliver(db, report, report.reminded, row[0].id, reminder)


def _request_approvals(
    db: Database, clock: Clock, notifier: Notifier, report: AdvanceReport
) -> None:
    with db.sessions() as session:
        rows = _rows(
            session,
            RC.state == CandidateState.AWAITING_APPROVAL.value,
            RC.approval_requested_at.is_(None),
            RC.approver.is_not(None),
        )
    for row in rows:

        def approval(session: Session, fresh: RemovalCandidate, row: Row = row) -> bool:
            to = [a.strip() for a in (fresh.approver or "").split(",") if a.strip()]
            _ask(notifier, "approval", to, _context(row, notifier.settings, None))
            fresh.approval_requested_at = clock.now()
            states.note(session, clock, fresh, "approval_requested", why=f"asked {', '.join(to)}")
            return True

        _deliver(db, report, report.approvals_requested, row[0].id, approval)


def due_for_reclaim(session: Session, now: datetime, *, unnotified: bool = False) -> list[int]:
    """Candidates the workflow has decided to reclaim now (see the module's step 4);
    ``unnotified``: also ready candidates of rules that do not notify, after their days."""
    silent_ready = and_(
        RC.state == CandidateState.READY.value,
        ReclamationRule.notify.is_(False),
        ReclamationRule.active.is_(True),
        true() if unnotified else false(),
    )
    rows = session.execute(
        select(RC.id, RC.state, RC.created_at, ReclamationRule.auto_reclaim_days)
        .join(IntegrationProfile, IntegrationProfile.id == RC.profile_id)
        .outerjoin(ReclamationRule, ReclamationRule.id == RC.rule_id)
        .where(
            IntegrationProfile.process_reclaim.is_(True),
            or_(silent_ready, decided_for_removal(now), in_flight()),
        )
        .order_by(RC.id)
    )
    return [
        cand_id
        for cand_id, state, created_at, days in rows
        if state != CandidateState.READY.value or created_at + timedelta(days=days or 0) <= now
    ]


async def advance(
    db: Database,
    keys: KeyRing,
    clock: Clock,
    notifier: Notifier,
    *,
    override: Override | None = None,
    dry_run: bool = False,
    open_connector: Any = None,
) -> AdvanceReport:
    """One step of the workflow (see the module docstring). Reclaims stay under the
    blast-radius cap of the notifier's settings; only an admin's ``override`` exceeds it."""
    settings = notifier.settings
    report = AdvanceReport(dry_run=dry_run)
    if notifier.configured:
        _notify_ready(db, keys, clock, notifier, report)
        _remind(db, keys, clock, notifier, report)
        _request_approvals(db, clock, notifier, report)
    with db.sessions() as session:
        report.due = due_for_reclaim(
            session, clock.now(), unnotified=settings.auto_reclaim_unnotified
        )
    if report.due:
        extra = {"open_connector": open_connector} if open_connector else {}
        report.reclaim = await reclaim_candidates(
            db,
            keys,
            clock,
            ids=report.due,
            dry_run=dry_run,
            override=override,
            settings=settings,
            **extra,
        )
    return report


# Answers and decisions ------------------------------------------------------------------


@dataclass(frozen=True)
class LinkPreview:
    candidate_id: int
    action: str
    app: str
    username: str
    deadline: datetime | None


def _candidate_row(session: Session, cand_id: int) -> Row:
    rows = _rows(session, RC.id == cand_id)
    if not rows:
        raise CandidateNotFound(f"no removal candidate with id {cand_id}")
    return rows[0]


def _open_link(
    session: Session, keys: KeyRing, clock: Clock, token: str
) -> tuple[links.VerifiedLink, Row]:
    link = links.verify(session, keys, clock, token)
    row = _candidate_row(session, link.candidate_id)
    if row[0].state != CandidateState.AWAITING_USER.value:
        raise links.LinkRefused(
            "closed", "This seat is no longer waiting for an answer: nothing was changed."
        )
    return link, row


def preview_link(session: Session, keys: KeyRing, clock: Clock, token: str) -> LinkPreview:
    """What following the link would do; raises LinkRefused. Writes nothing."""
    link, (cand, sub, _prof, model, _rule) = _open_link(session, keys, clock, token)
    return LinkPreview(
        cand.id, link.action, model.display_name, sub.username or sub.external_id, cand.deadline_at
    )


def answer_by_link(session: Session, keys: KeyRing, clock: Clock, token: str) -> str:
    """Spend the link and record its answer; returns what happens next. Raises LinkRefused
    (nothing written) for a forged, expired, used or no longer pending link."""
    link, row = _open_link(session, keys, clock, token)
    links.spend(session, clock, link)
    who = row[1].email or row[1].username or row[1].external_id
    return record_answer(session, clock, link.candidate_id, link.action, actor=f"link:{who}")


def record_answer(
    session: Session, clock: Clock, cand_id: int, action: str, *, actor: str | None = None
) -> str:
    """The user's answer: "release" (reclaimed at the next run) or "keep" (to approval when the
    rule requires it, else the seat is kept and the candidate closes as skipped)."""
    cand, sub, _prof, _model, rule = _candidate_row(session, cand_id)
    if cand.state != CandidateState.AWAITING_USER.value:
        raise states.StateError(
            f"candidate {cand_id} is {cand.state}, not awaiting_user: nothing to answer"
        )
    if action not in links.ACTIONS:
        raise ValueError(f"answer must be keep or release, not {action!r}")
    now = clock.now()
    cand.answer, cand.answered_at = action, now
    if action == "release":
        states.note(session, clock, cand, "released", why="the user released the seat", actor=actor)
        return "released: the seat is reclaimed at the next run"
    if not rule.approval_required:
        states.move(
            session,
            clock,
            cand,
            CandidateState.CLOSED_SKIPPED,
            why="the user keeps the seat",
            actor=actor,
        )
        return "kept: the seat stays yours"
    approver = directory_port.manager_email(session, sub.person_id) or ", ".join(
        str(a) for a in rule.approvers
    )
    states.move(
        session,
        clock,
        cand,
        CandidateState.AWAITING_APPROVAL,
        why=f"the user wants to keep the seat; {approver or 'a SAM manager'} decides",
        actor=actor,
        approver=approver or None,
    )
    return "sent for approval: " + (approver or "a SAM manager") + " decides"


def approve(session: Session, clock: Clock, cand_id: int, *, actor: str | None = None) -> None:
    """Approve the removal of a seat the user wanted to keep: reclaimed at the next run."""
    cand = _candidate_row(session, cand_id)[0]
    if cand.state != CandidateState.AWAITING_APPROVAL.value:
        raise states.StateError(f"candidate {cand_id} is {cand.state}, not awaiting_approval")
    if cand.approved_at is not None:
        raise states.StateError(f"candidate {cand_id} was already approved")
    cand.approved_at = clock.now()
    states.note(session, clock, cand, "approved", why="removal approved", actor=actor)


def decline(session: Session, clock: Clock, cand_id: int, *, actor: str | None = None) -> None:
    """Decline the removal: the user keeps the seat (closed as skipped)."""
    cand = _candidate_row(session, cand_id)[0]
    if cand.state != CandidateState.AWAITING_APPROVAL.value or cand.approved_at is not None:
        raise states.StateError(
            f"candidate {cand_id} is {cand.state}"
            + (" and approved" if cand.approved_at else "")
            + ": only a pending approval can be declined"
        )
    states.move(
        session,
        clock,
        cand,
        CandidateState.CLOSED_SKIPPED,
        why="removal declined: the user keeps the seat",
        actor=actor,
    )


def retry(session: Session, clock: Clock, cand_id: int, *, actor: str | None = None) -> None:
    """A person fixed what needed attention (an email added, the failed reclaim looked into):
    the candidate is ready again."""
    cand = _candidate_row(session, cand_id)[0]
    states.move(
        session,
        clock,
        cand,
        CandidateState.READY,
        why="fixed by a person: ready again",
        actor=actor,
        last_error=None,
    )


DECISIONS = ("approve", "reject", "keep", "release", "retry")


def decide(
    session: Session, clock: Clock, cand_id: int, action: str, *, actor: str | None = None
) -> str:
    """One person's decision on a candidate (one of ``DECISIONS``), as every face offers it;
    returns what happened, in words."""
    if action == "approve":
        approve(session, clock, cand_id, actor=actor)
        return "removal approved: reclaimed at the next `candidates advance`"
    if action == "reject":
        decline(session, clock, cand_id, actor=actor)
        return "removal declined: the user keeps the seat (closed as skipped)"
    if action == "retry":
        retry(session, clock, cand_id, actor=actor)
        return "ready again"
    if action in ("keep", "release"):
        return record_answer(session, clock, cand_id, action, actor=actor)
    raise ValueError(f"unknown decision {action!r}: one of {', '.join(DECISIONS)}")
