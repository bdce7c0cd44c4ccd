"""Access review campaigns: campaign managers start, follow, close them and export the
evidence; each reviewer sees and decides only the items assigned to them (never their own
seat), whatever their role."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import (
    PageCursor,
    PageLimit,
    Printable,
    RecordId,
    Segment,
    Ws,
    next_page,
    settings_of,
)
from shelfware.api.errors import ApiError
from shelfware.appstate import Workspace
from shelfware.notifications.service import Notifier
from shelfware.ranges import MAX_NAME
from shelfware.reviews import export, schedule
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import (
    BulkDecisionIn,
    CampaignCreate,
    CampaignView,
    DecisionIn,
    ItemView,
    ReviewerProgress,
)

router = APIRouter(prefix="/reviews", tags=["reviews"])
LOG = logging.getLogger("shelfware.api")

CampaignRef = Annotated[
    str,
    Path(min_length=1, max_length=MAX_NAME, description="a campaign's id or name, percent-encoded"),
    Segment,
    Printable,
]


class CampaignDetail(BaseModel):
    campaign: CampaignView
    progress: list[ReviewerProgress]


class Reassign(BaseModel):
    to: str


@contextmanager
def _refusals() -> Iterator[None]:
    """Another's item or one's own seat: 403; a closed campaign: 409."""
    try:
        yield
    except reviews.NotYourItem as exc:
        raise ApiError(403, str(exc)) from None
    except reviews.CampaignClosed as exc:
        raise ApiError(409, str(exc)) from None


@router.get("", response_model=list[CampaignView])
def list_campaigns(ws: Ws, _: Principal = allowed(Permission.REVIEWS_MANAGE)) -> list[CampaignView]:
    with ws.read() as session:
        return reviews.list_campaigns(session)


@router.post("", response_model=CampaignView, status_code=201)
def create_campaign(
    data: CampaignCreate, ws: Ws, principal: Principal = allowed(Permission.REVIEWS_MANAGE)
) -> CampaignView:
    """Start a campaign (the seats in scope are snapshotted now). The owner defaults to the
    caller when their user name is an email."""
    with ws.write(principal.actor) as session:
        me = reviews.reviewer_of(session, principal)
        return reviews.create_campaign(
            session, ws.clock, data, actor=principal.actor, creator_email=me
        )


@router.get("/{campaign}", response_model=CampaignDetail)
def show_campaign(
    campaign: CampaignRef, ws: Ws, _: Principal = allowed(Permission.REVIEWS_MANAGE)
) -> CampaignDetail:
    with ws.read() as session:
        return CampaignDetail(
            campaign=reviews.campaign_view(session, campaign),
            progress=reviews.progress(session, campaign),
        )


@router.post("/{campaign}/close", response_model=CampaignView)
def close_campaign(
    campaign: CampaignRef, ws: Ws, principal: Principal = allowed(Permission.REVIEWS_MANAGE)
) -> CampaignView:
    with _refusals(), ws.write(principal.actor) as session:
        return reviews.close_campaign(session, ws.clock, campaign, actor=principal.actor)


@router.get("/{campaign}/report")
def report(
    campaign: CampaignRef,
    ws: Ws,
    format_: Annotated[str, Query(alias="format", pattern="^(csv|json|html)$")] = "json",
    _: Principal = allowed(Permission.REVIEWS_MANAGE),
) -> StreamingResponse:
    """The evidence, streamed: every item, reviewer, decision, reason, time and outcome."""
    with ws.read() as session:  # refused here (404) before the stream starts
        view = reviews.campaign_view(session, campaign)
        progress = reviews.progress(session, campaign)

    def body() -> Iterator[str]:
        with ws.read() as session:
            records = reviews.report_records(session, view.id)
            yield from export.chunks(format_, view, progress, records, ws.clock.now())

    name = f"review-{view.id}.{format_}"
    return StreamingResponse(
        body(),
        media_type=export.MEDIA_TYPES[format_],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _tell_new_reviewers(ws: Workspace, done: list[ItemView]) -> None:
    """After the commit: each new reviewer is emailed their link (a failure is logged: the
    decision stands, and the reminders will reach them)."""
    if not done:
        return
    counts = Counter(item.reviewer for item in done if item.reviewer)
    campaign = done[0].campaign_id
    notifier = Notifier(settings_of(ws))
    keys = ws.store.keys
    for failed in schedule.tell_reviewers_now(
        ws.store.db, notifier, keys, ws.clock, campaign, counts
    ):
        LOG.warning("review %s: the email to the new reviewer did not go: %s", campaign, failed)


@router.post("/{campaign}/items/{item_id}/reassign", response_model=ItemView)
def reassign(
    campaign: CampaignRef,
    item_id: RecordId,
    change: Reassign,
    ws: Ws,
    principal: Principal = allowed(Permission.REVIEWS_MANAGE),
) -> ItemView:
    """Give an item (an unassigned one, say) to another reviewer, who is emailed at once:
    never its holder."""
    with _refusals(), ws.write(principal.actor) as session:
        done = reviews.reassign_by_admin(
            session, ws.clock, campaign, item_id, change.to, actor=principal.actor
        )
    _tell_new_reviewers(ws, [done])
    return done


@router.get("/{campaign}/mine", response_model=list[ItemView])
def my_items(
    campaign: CampaignRef,
    request: Request,
    response: Response,
    ws: Ws,
    undecided: bool = False,
    limit: PageLimit = 1000,
    cursor: PageCursor = None,
    principal: Principal = allowed(Permission.REVIEWS_DECIDE),
) -> list[ItemView]:
    """The caller's items to review (as the user they are, or their token's owner), holder by
    holder, a page at a time (``X-Next-Cursor``: pass it as ``cursor`` for the next page)."""
    with ws.read() as session:
        me = reviews.reviewer_of(session, principal)
        items, following = reviews.my_items_page(
            session, campaign, me, undecided=undecided, cursor=cursor, limit=limit
        )
    next_page(request, response, following)
    return items


@router.post("/{campaign}/items/{item_id}/decision", response_model=ItemView)
def decide(
    campaign: CampaignRef,
    item_id: RecordId,
    decision: DecisionIn,
    ws: Ws,
    principal: Principal = allowed(Permission.REVIEWS_DECIDE),
) -> ItemView:
    """keep, revoke (``reason`` required) or reassign (``to``, emailed at once) one of the
    caller's items."""
    with _refusals(), ws.write(principal.actor) as session:
        me = reviews.reviewer_of(session, principal)
        done = reviews.decide(
            session,
            ws.clock,
            campaign,
            item_id,
            me,
            decision.decision,
            reason=decision.reason,
            to=decision.to,
            actor=principal.actor,
        )
    if decision.decision == "reassign":
        _tell_new_reviewers(ws, [done])
    return done


@router.post("/{campaign}/decisions", response_model=list[ItemView])
def decide_for_holder(
    campaign: CampaignRef,
    decision: BulkDecisionIn,
    ws: Ws,
    principal: Principal = allowed(Permission.REVIEWS_DECIDE),
) -> list[ItemView]:
    """One decision on every undecided item of one holder the caller reviews (a reassign:
    the new reviewer is emailed at once)."""
    with _refusals(), ws.write(principal.actor) as session:
        me = reviews.reviewer_of(session, principal)
        done = reviews.decide_for_holder(
            session,
            ws.clock,
            campaign,
            decision.holder,
            me,
            decision.decision,
            reason=decision.reason,
            to=decision.to,
            actor=principal.actor,
        )
    if decision.decision == "reassign":
        _tell_new_reviewers(ws, done)
    return done
