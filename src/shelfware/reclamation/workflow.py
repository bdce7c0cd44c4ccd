"""The reclamation workflow: ask the user, wait, decide, reclaim.

``advance`` is the periodic step (``shelfware candidates advance``, the scheduler's tick):

1. ready candidates whose rule notifies are asked ("keep" / "release" links, answer by the
   deadline: ``auto_reclaim_days`` from now), unless the same seat was asked about within the
   cooldown; without an email, or with one that is not exactly one valid address, they need a
   person (``attention_required``);
2. one reminder ``reminder_days`` before the deadline;
3. a "keep" that needs approval is sent to the person's manager (directory), else the rule's
   approvers;
4. reclaim what is decided: "release", no answer by the deadline, removal approved, ready
   candidates of rules that do not notify once ``auto_reclaim_days`` passed (only with the
   ``auto_reclaim_unnotified`` setting: nobody was told, so by default a person reclaims them),
   and anything left in flight by an interrupted run; within the blast-radius cap.

Each message goes to one person (one address, by email and / or a Slack direct message: their
links reach nobody else) in its own transaction: a failed delivery is reported for that
candidate (``AdvanceReport.delivery_failed``) and the step goes on. The shared chat webhook
gets a summary per app (how many were asked...), never a link.

Answers arrive through the links (``answer_by_link``) or the CLI (``record_answer``,
``approve``, ``decline``). Every state change goes through ``states``.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from shelfware.kit.addresses import is_email, parse_emails
from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.kit.redact import default_redactor
from shelfware.models import (
    CandidateAction,
    CandidateState,
    IntegrationProfile,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.notifications.service import (
    BadAddress,
    Delivery,
    DeliveryError,
    Message,
    Notifier,
    checked_address,
)
from shelfware.reclamation import directory_port, keeps, links, states
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

LOG = logging.getLogger(__name__)
RC = RemovalCandidate
MAX_REASON = 500  # characters of the optional reason given with an answer
Row = tuple[RemovalCandidate, Subscription, IntegrationProfile, SoftwareModel, ReclamationRule]


@dataclass
class AdvanceReport:
    dry_run: bool = False
    notified: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    approvals_requested: list[int] = field(default_factory=list)
    cooling_down: list[int] = field(default_factory=list)
    needs_person: list[int] = field(default_factory=list)
    delivery_failed: dict[int, str] = field(default_factory=dict)  # per candidate: what failed
    chat_failed: list[str] = field(default_factory=list)  # summaries the webhook did not take
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


def _valid_or_blank(email: str | None) -> str:
    try:
        return checked_address(email)
    except BadAddress:
        return ""


def _context(row: Row, settings: Settings, tokens: dict[str, str] | None) -> dict[str, Any]:
    """What the templates may print. Vendor values are text: the HTML part escapes them,
    the chat part mrkdwn-escapes them, and none of them becomes a header or a recipient."""
    cand, sub, prof, model, rule = row
    base = settings.public_url.rstrip("/")
    email = _valid_or_blank(sub.email)
    moving = bool(_move_to(row))
    return {
        # a downgrade: "we will move you to B" instead of "released"
        "move_to": _move_to(row),
        "active_days": cand.active_days if moving else "",
        "window_days": rule.window_days if moving else "",
        "candidate_id": cand.id,
        "name": sub.display_name or sub.username or email or sub.external_id,
        "username": sub.username or sub.external_id,
        "email": email,
        "app": model.display_name,
        "profile": prof.name,
        "last_activity": _day(sub.last_activity_at),
        "inactive_days": cand.inactive_days,
        "deadline": _day(cand.deadline_at),
        "saving": f"{cand.potential_savings:,.2f}" if cand.potential_savings is not None else "—",
        "keep_url": f"{base}/answer/{tokens['keep']}" if tokens else "",
        "release_url": f"{base}/answer/{tokens['release']}" if tokens else "",
    }


def _ask(notifier: Notifier, template: str, to: str, context: dict[str, Any]) -> Delivery:
    """One message to one person (``to``: one address); its links reach only them."""
    buttons = {}
    if context.get("keep_url") and context.get("move_to"):
        buttons = {"Keep my edition": context["keep_url"], "Move me now": context["release_url"]}
    elif context.get("keep_url"):
        buttons = {"Keep my seat": context["keep_url"], "Release it": context["release_url"]}
    return notifier.send(Message(template, to, context, buttons))


def _recently_asked(now: datetime, cooldown_days: int) -> Any:
    """Another candidate of the same seat was notified within the cooldown."""
    other = aliased(RemovalCandidate)
    return exists().where(
        other.subscription_id == RC.subscription_id,
        other.id != RC.id,
        other.notified_at.is_not(None),
        other.notified_at > now - timedelta(days=cooldown_days),
    )


def _needs_person(
    db: Database, clock: Clock, report: AdvanceReport, cand_id: int, why: str
) -> None:
    """The candidate cannot be asked (no valid address): a person looks (attention_required)."""
    report.needs_person.append(cand_id)
    if report.dry_run:
        return
    try:
        with db.transaction() as session:
            cand = session.get_one(RemovalCandidate, cand_id)
            if states.allowed(cand.state, CandidateState.ATTENTION_REQUIRED.value):
                states.move(session, clock, cand, CandidateState.ATTENTION_REQUIRED, why=why)
    except Exception as exc:  # one candidate never stops the step
        LOG.warning("candidate %s: could not be set aside", cand_id, exc_info=True)
        report.delivery_failed[cand_id] = f"{why}; and: {_failure(exc)}"


def _failure(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
    return default_redactor().redact(text)


def _deliver(
    db: Database,
    clock: Clock,
    report: AdvanceReport,
    done: list[int],
    cand_id: int,
    step: Callable[[Session, RemovalCandidate], bool],
) -> bool:
    """One message in one transaction: ``step`` sends it and records it (False: nothing to
    do any more); a failed delivery rolls all of it back (no link, no state change) and is
    reported for this candidate; a recipient that is not one valid address sets the
    candidate aside (attention_required). Nothing here stops the step for the others.
    Returns whether the message went."""
    done.append(cand_id)
    if report.dry_run:
        return False
    try:
        with db.transaction() as session:
            if not step(session, session.get_one(RemovalCandidate, cand_id)):
                done.remove(cand_id)
                return False
    except BadAddress as exc:
        done.remove(cand_id)
        report.delivery_failed[cand_id] = str(exc)
        _needs_person(db, clock, report, cand_id, str(exc))
        return False
    except Exception as exc:  # one failed delivery never stops the step
        done.remove(cand_id)
        if not isinstance(exc, DeliveryError):
            LOG.warning("candidate %s: message failed", cand_id, exc_info=True)
        report.delivery_failed[cand_id] = _failure(exc)
        return False
    return True


def _notify_ready(
    db: Database, keys: KeyRing, clock: Clock, notifier: Notifier, report: AdvanceReport
) -> Counter[str]:
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
    asked: Counter[str] = Counter()
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
        try:
            email = checked_address(sub.email)  # one address, or the candidate waits for a person
        except BadAddress as bad:
            report.delivery_failed[cand.id] = str(bad)
            _needs_person(db, clock, report, cand.id, str(bad))
            continue
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
            sent = _ask(notifier, "notice", email, _context(row, settings, tokens))
            states.move(
                session,
                clock,
                fresh,
                CandidateState.AWAITING_USER,
                why=f"asked {sent.describe()} to keep or release the seat by {deadline:%Y-%m-%d}",
                notified_at=now,
                deadline_at=deadline,
            )
            return True

        if _deliver(db, clock, report, report.notified, cand.id, notice):
            asked[row[3].display_name] += 1
    return asked


def _remind(
    db: Database, keys: KeyRing, clock: Clock, notifier: Notifier, report: AdvanceReport
) -> Counter[str]:
    settings = notifier.settings
    reminded: Counter[str] = Counter()
    if settings.reminder_days <= 0:
        return reminded
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
            sent = _ask(notifier, "reminder", email, _context(row, settings, tokens))
            fresh.reminded_at = now
            states.note(session, clock, fresh, "reminded", why=f"reminded {sent.describe()}")
            return True

        if _deliver(db, clock, report, report.reminded, row[0].id, reminder):
            reminded[row[3].display_name] += 1
    return reminded


def _request_approvals(
    db: Database, clock: Clock, notifier: Notifier, report: AdvanceReport
) -> Counter[str]:
    requested: Counter[str] = Counter()
    with db.sessions() as session:
        rows = _rows(
            session,
            RC.state == CandidateState.AWAITING_APPROVAL.value,
            RC.approval_requested_at.is_(None),
            RC.approver.is_not(None),
        )
    for row in rows:
        to, refused = parse_emails(a.strip() for a in (row[0].approver or "").split(","))
        if not to:
            why = "no valid email address for the approver" + (f": {refused[0]}" if refused else "")
            report.delivery_failed[row[0].id] = why
            _needs_person(db, clock, report, row[0].id, why)
            continue

        def approval(
            session: Session, fresh: RemovalCandidate, row: Row = row, to: list[str] = to
        ) -> bool:
            context = _context(row, notifier.settings, None)
            sent, failed = [], []
            for address in to:  # one message per approver: one address per message
                try:
                    sent.append(_ask(notifier, "approval", address, context).describe())
                except DeliveryError as exc:
                    failed.append(str(exc))
            if not sent:
                raise DeliveryError("; ".join(failed))
            fresh.approval_requested_at = clock.now()
            states.note(
                session,
                clock,
                fresh,
                "approval_requested",
                why="asked "
                + ", ".join(sent)
                + (f"; failed: {'; '.join(failed)}" if failed else ""),
            )
            return True

        if _deliver(db, clock, report, report.approvals_requested, row[0].id, approval):
            requested[row[3].display_name] += 1
    return requested


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
        summaries = {
            "asked": _notify_ready(db, keys, clock, notifier, report),
            "reminded": _remind(db, keys, clock, notifier, report),
            "approval": _request_approvals(db, clock, notifier, report),
        }
        for event, counts in summaries.items():  # the shared channel: counts, never links
            report.chat_failed += notifier.announce(event, dict(counts))
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
    move_to: str = ""  # a downgrade: the edition the account moves to


def _move_to(row: Row) -> str:
    """The edition a downgrade candidate moves the account to ("" for a removal)."""
    cand, rule = row[0], row[4]
    if cand.action == CandidateAction.DOWNGRADE and rule.target_model is not None:
        return rule.target_model.display_name
    return ""


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
    link, row = _open_link(session, keys, clock, token)
    cand, sub, _prof, model, _rule = row
    return LinkPreview(
        cand.id,
        link.action,
        model.display_name,
        sub.username or sub.external_id,
        cand.deadline_at,
        _move_to(row),
    )


def clean_reason(text: str | None) -> str | None:
    """The optional reason given with an answer, as the audit trail keeps it: control and
    format characters (bidi overrides...) removed, spaces collapsed, at most ``MAX_REASON``
    characters; None when nothing is left."""
    if not text:
        return None
    text = unicodedata.normalize("NFC", text[: MAX_REASON * 4])
    kept = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    cleaned = " ".join(kept.split())[:MAX_REASON].strip()
    return cleaned or None


# What the person who followed a link is told (never who decides next: no address).
_AFTER_ANSWER = {
    CandidateState.AWAITING_USER.value: "Released: the seat is removed at the next run.",
    CandidateState.CLOSED_SKIPPED.value: "Kept: the seat stays yours.",
    CandidateState.AWAITING_APPROVAL.value: (
        "Your answer is sent for approval: the person who approves it decides, and the seat "
        "stays yours meanwhile."
    ),
    CandidateState.ATTENTION_REQUIRED.value: (
        "Your answer is recorded: the IT team looks at it, and the seat stays yours meanwhile."
    ),
}


def answer_by_link(
    session: Session, keys: KeyRing, clock: Clock, token: str, reason: str | None = None
) -> str:
    """Spend the link and record its answer, with the person's optional ``reason`` (cleaned,
    in the audit trail); returns what happens next, in words for that person (no address).
    Raises LinkRefused (nothing written) for a forged, expired, used or no longer pending
    link."""
    link, row = _open_link(session, keys, clock, token)
    links.spend(session, clock, link)
    email = row[1].email if is_email(row[1].email) else None  # vendor text: only if valid
    actor = f"link:{email or row[1].username or row[1].external_id}"
    said = record_answer(session, clock, link.candidate_id, link.action, actor=actor)
    cand = row[0]
    states.note(
        session,
        clock,
        cand,
        "answered",
        why=f"the user answered {link.action} by link",
        actor=actor,
        answer=link.action,
        reason=clean_reason(reason),
    )
    kept_until = row[1].kept_until
    if cand.state == CandidateState.CLOSED_SKIPPED.value and kept_until is not None:
        return f"Kept: the seat stays yours (kept until {kept_until:%Y-%m-%d})."
    if cand.state == CandidateState.AWAITING_USER.value and _move_to(row):
        return f"Moving: your account moves to {_move_to(row)} at the next run."
    return _AFTER_ANSWER.get(cand.state, said.split(":")[0].capitalize() + ".")


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
        until = keeps.keep_seat(session, clock, cand, rule, actor=actor)  # keep_days
        return f"kept: the seat stays yours (kept until {until:%Y-%m-%d})"
    approver, problem = _approver(session, sub.person_id, rule.approvers)
    if problem:
        states.move(
            session,
            clock,
            cand,
            CandidateState.ATTENTION_REQUIRED,
            why=f"the user wants to keep the seat, but {problem}: a person decides",
            actor=actor,
        )
        return f"recorded: {problem}, so a person decides (attention required)"
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


def _approver(
    session: Session, person_id: int | None, approvers: list[Any]
) -> tuple[str | None, str | None]:
    """Who decides a "keep": the person's manager (directory), else the rule's approvers;
    as validated addresses joined by ", " (each one address, so the list splits back
    safely). Second: why nobody valid can be asked (the candidate needs a person)."""
    manager = directory_port.manager_email(session, person_id)
    if manager is not None:
        try:
            return checked_address(manager), None
        except BadAddress as exc:
            return None, f"the manager has {exc}"
    valid, refused = parse_emails(str(a) for a in approvers)
    if refused and not valid:
        return None, f"no valid email address for the rule's approvers: {refused[0]}"
    return ", ".join(valid) or None, None


def approve(session: Session, clock: Clock, cand_id: int, *, actor: str | None = None) -> None:
    """Approve the removal of a seat the user wanted to keep: reclaimed at the next run."""
    cand = _candidate_row(session, cand_id)[0]
    if cand.state != CandidateState.AWAITING_APPROVAL.value:
        raise states.StateError(f"candidate {cand_id} is {cand.state}, not awaiting_approval")
    if cand.approved_at is not None:
        raise states.StateError(f"candidate {cand_id} was already approved")
    cand.approved_at = clock.now()
    states.note(session, clock, cand, "approved", why="removal approved", actor=actor)


def decline(session: Session, clock: Clock, cand_id: int, *, actor: str | None = None) -> datetime:
    """Decline the removal: the user keeps the seat (closed as skipped), for the rule's
    ``keep_days``; returns until when."""
    cand, *_, rule = _candidate_row(session, cand_id)
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
    return keeps.keep_seat(session, clock, cand, rule, actor=actor)  # keep_days


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
        until = decline(session, clock, cand_id, actor=actor)
        return (
            "removal declined: the user keeps the seat (closed as skipped, kept until "
            f"{until:%Y-%m-%d})"
        )
    if action == "retry":
        retry(session, clock, cand_id, actor=actor)
        return "ready again"
    if action in ("keep", "release"):
        return record_answer(session, clock, cand_id, action, actor=actor)
    raise ValueError(f"unknown decision {action!r}: one of {', '.join(DECISIONS)}")
