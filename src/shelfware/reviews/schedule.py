"""The review campaigns' periodic step (the jobs tick runs it hourly; ``shelfware reviews
tick`` runs it by hand). Each part happens once, whatever the number of ticks:

1. ``REMIND_BEFORE`` the due date, each reviewer with undecided items gets one reminder
   (email, a signed link to their page);
2. on the due date, undecided items go to their reviewer's manager (else the campaign's
   owner), who is told; ``OWNER_AFTER`` later, what is still undecided goes to the owner;
3. the next campaign of a quarterly series starts when its quarter does;
4. revokes waiting as ``ready`` removal candidates are reclaimed, under the reclaim cap (a
   run over it leaves them for the next tick or a person, and says so).

Campaigns are marked done for a part before its messages go out (at most once: a failed
delivery is reported, not retried forever).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import ReviewCampaign
from shelfware.notifications.service import BadAddress, DeliveryError, Message, Notifier
from shelfware.reclamation.service import ReclaimError, reclaim_candidates
from shelfware.reviews import links
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import TickSummary

LOG = logging.getLogger(__name__)
REMIND_BEFORE = timedelta(days=3)
OWNER_AFTER = timedelta(days=3)


class _Campaign(Protocol):
    id: int
    name: str
    due_at: datetime


ASSIGNED = (
    "Seats to review",
    "Seats were given to you to review in an access review campaign.",
)


def tell_reviewers_now(
    db: Database,
    notifier: Notifier,
    keys: KeyRing,
    clock: Clock,
    campaign: int | str,
    counts: Mapping[str, int],
) -> list[str]:
    """Once a reassignment is committed, every face calls this: each reviewer given items
    (reviewer -> how many; by the campaign's manager, or by the reviewer before them) is
    emailed the signed link to their page at once; nothing when no email is set up. The
    deliveries that failed, said in one line each (nothing is retried)."""
    if not notifier.configured or not counts:
        return []
    with db.sessions() as session:
        view = reviews.campaign_view(session, campaign)
    summary = TickSummary()
    _tell(notifier, keys, clock, view, dict(counts), *ASSIGNED, summary)
    return summary.delivery_failed


def _tell(
    notifier: Notifier,
    keys: KeyRing,
    clock: Clock,
    campaign: _Campaign,
    counts: dict[str, int],
    headline: str,
    intro: str,
    summary: TickSummary,
) -> None:
    base = notifier.settings.public_url
    for reviewer, count in sorted(counts.items()):
        context = {
            "headline": headline,
            "intro": intro,
            "campaign": campaign.name,
            "count": count,
            "due": f"{campaign.due_at:%Y-%m-%d}",
            "url": links.url_for(base, keys, campaign.id, reviewer, clock.now()),
        }
        try:
            notifier.send(Message("review", reviewer, context))
        except (BadAddress, DeliveryError) as exc:
            summary.delivery_failed.append(f"{campaign.name}: {reviewer}: {exc}")


def _step(
    db: Database,
    clock: Clock,
    campaign_id: int,
    part: str,
) -> tuple[ReviewCampaign, dict[str, int]] | None:
    """Mark one part of one campaign done and return who to tell (None: already done)."""
    now = clock.now()
    with db.transaction() as session:
        campaign = session.get_one(ReviewCampaign, campaign_id)
        if campaign.closed_at is not None or getattr(campaign, part) is not None:
            return None
        if part == "reminded_at":
            counts = reviews.undecided_by_reviewer(session, campaign.id)
        else:
            counts = reviews.escalate(
                session, clock, campaign, to_owner=part == "escalated_to_owner_at"
            )
        setattr(campaign, part, now)
        session.flush()
        session.expunge(campaign)
        return campaign, counts


async def run_due(
    db: Database, keys: KeyRing, clock: Clock, notifier: Notifier, **reclaim: Any
) -> TickSummary:
    """One step (see the module's docstring); returns what it did."""
    summary = TickSummary()
    now = clock.now()
    with db.sessions() as session:
        due = [(c.id, c.due_at) for c in reviews.open_campaigns(session)]
    plan: list[tuple[str, Callable[[datetime], bool]]] = [
        ("reminded_at", lambda d: d - REMIND_BEFORE <= now < d),
        ("escalated_at", lambda d: now >= d),
        ("escalated_to_owner_at", lambda d: now >= d + OWNER_AFTER),
    ]
    for campaign_id, due_at in due:
        for part, when in plan:
            if not when(due_at):
                continue
            done = _step(db, clock, campaign_id, part)
            if done is None:
                continue
            campaign, counts = done
            if part == "reminded_at":
                summary.reminded[campaign.name] = len(counts)
                headline = "Reminder: seats to review"
                intro = "A reminder: some seats you review are still undecided."
            else:
                summary.escalated[campaign.name] = sum(counts.values())
                headline = "Escalated: seats to review"
                intro = "These seats were not reviewed by the due date; they are now yours."
            if notifier.configured:
                _tell(notifier, keys, clock, campaign, counts, headline, intro, summary)
    with db.transaction() as session:
        for campaign in reviews.open_series_due(session, now):
            started = reviews.next_in_series(session, clock, campaign)
            if started is not None:
                summary.started.append(started.name)
    with db.sessions() as session:
        ready = reviews.ready_revokes(session)
    if ready:
        try:
            outcomes = await reclaim_candidates(
                db, keys, clock, ids=ready, settings=notifier.settings, **reclaim
            )
            summary.reclaimed = sum(
                1 for o in outcomes if o.action in ("reclaimed", "already_gone")
            )
        except ReclaimError as exc:  # over the cap: they wait for the next tick or a person
            summary.held.append(str(exc))
            LOG.warning("revokes wait: %s", exc)
    return summary
