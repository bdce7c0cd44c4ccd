"""Access reviews in the workspace: the campaign owner's pages (start, follow, close, the
printable evidence) and the reviewer's page, reached after sign-in or through the signed link
of their email (the link is the credential, like the answer page's; it shows and decides
only that reviewer's items). Every rule is the domain's (``shelfware.reviews``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shelfware.accounts.roles import Permission
from shelfware.kit.keyset import CursorError
from shelfware.notifications.service import Notifier
from shelfware.reviews import export, links, schedule
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate, ItemView, Recurrence
from shelfware.settings import get_settings
from shelfware.web.context import viewer_of, web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.pages.candidates import _settings
from shelfware.web.routing import Refused, SegmentName, page
from shelfware.web.templating import redirect, render

LINK_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _me(request: Request) -> str | None:
    return reviews.normal_email(viewer_of(request).username)


def _field(form: object, name: str) -> str:
    value = form.get(name)  # type: ignore[attr-defined]
    return value.strip() if isinstance(value, str) else ""


@page("GET", "/reviews", Permission.REVIEWS_DECIDE)
async def campaigns(request: Request) -> Response:
    """Your reviews; and, for campaign managers, every campaign and a form to start one."""
    ctx = web_context(request)
    viewer = viewer_of(request)
    with ctx.store.db.sessions() as session:
        mine = reviews.campaigns_for_reviewer(session, _me(request))
        every = reviews.list_campaigns(session) if viewer.can(Permission.REVIEWS_MANAGE) else None
    return render(request, "reviews/campaigns.html", {"mine": mine, "every": every})


@page("POST", "/reviews", Permission.REVIEWS_MANAGE)
async def create(request: Request) -> Response:
    ctx = web_context(request)
    form = await request.form()
    viewer = viewer_of(request)
    try:
        due = datetime.combine(
            datetime.fromisoformat(_field(form, "due")).date(), time(23, 59, 59), UTC
        )
        data = CampaignCreate(
            name=_field(form, "name"),
            scope=f"{_field(form, 'scope_kind')}={_field(form, 'scope_value')}",
            due=due,
            reviewer=_field(form, "reviewer") or "manager",
            owner=_field(form, "owner") or None,
            recurrence=Recurrence.QUARTERLY if form.get("quarterly") == "on" else None,
        )
        with ctx.store.db.transaction() as session:
            view = reviews.create_campaign(
                session,
                ctx.clock,
                data,
                actor=f"web:{viewer.username}",
                creator_email=reviews.normal_email(viewer.username),
            )
    except USER_ERRORS as exc:
        return redirect(request, "/reviews", f"Not started: {one_line(exc)}")
    return redirect(
        request,
        f"/reviews/{view.id}",
        f"Started {view.name!r}: {view.items} seats to review by {view.due_at:%Y-%m-%d}.",
    )


@page("GET", "/reviews/{campaign}", Permission.REVIEWS_MANAGE)
async def campaign_page(request: Request, campaign: SegmentName) -> Response:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        try:
            view = reviews.campaign_view(session, campaign)
        except USER_ERRORS as exc:
            raise Refused(404, one_line(exc)) from None
        progress = reviews.progress(session, view.id)
        unassigned = reviews.unassigned_items(session, view.id, limit=UNASSIGNED_SHOWN)
    return render(
        request,
        "reviews/campaign.html",
        {"campaign": view, "progress": progress, "unassigned": unassigned},
    )


UNASSIGNED_SHOWN = 200


def _tell_assigned(request: Request, campaign: str | int, reviewer: str, count: int) -> str:
    """Email a reviewer just given items, at once (blocking: run off the event loop); what
    to add to the page's message."""
    ctx = web_context(request)
    notifier = Notifier(_settings(ctx) or get_settings())
    if not notifier.configured:
        return f" No email is set up: {reviewer} finds them under Access reviews."
    failed = schedule.tell_reviewers_now(
        ctx.store.db, notifier, ctx.store.keys, ctx.clock, campaign, {reviewer: count}
    )
    if failed:
        return f" The email to {reviewer} did not go: {one_line(ValueError(failed[0]))}"
    return f" {reviewer} was emailed a link to their items."


@page("POST", "/reviews/{campaign}/items/{item}/assign", Permission.REVIEWS_MANAGE)
async def assign(request: Request, campaign: SegmentName, item: int) -> Response:
    """The campaign's manager gives an item (one without a reviewer, say) to a reviewer, who
    is emailed at once; never to the seat's holder."""
    ctx = web_context(request)
    form = await request.form()
    to = _field(form, "to")
    actor = f"web:{viewer_of(request).username}"

    def record() -> ItemView:
        with ctx.store.db.transaction() as session:
            return reviews.reassign_by_admin(session, ctx.clock, campaign, item, to, actor=actor)

    try:
        done = await run_in_threadpool(record)
    except USER_ERRORS as exc:
        return redirect(
            request, f"/reviews/{quote(campaign, safe='')}", f"Not assigned: {one_line(exc)}"
        )
    told = await run_in_threadpool(
        _tell_assigned, request, done.campaign_id, done.reviewer or to, 1
    )
    return redirect(
        request,
        f"/reviews/{done.campaign_id}",
        f"Assigned {done.app} of {done.holder or done.username} to {done.reviewer}.{told}",
    )


@page("POST", "/reviews/{campaign}/close", Permission.REVIEWS_MANAGE)
async def close(request: Request, campaign: SegmentName) -> Response:
    ctx = web_context(request)
    try:
        with ctx.store.db.transaction() as session:
            view = reviews.close_campaign(
                session, ctx.clock, campaign, actor=f"web:{viewer_of(request).username}"
            )
    except USER_ERRORS as exc:
        raise Refused(409, one_line(exc)) from None
    return redirect(
        request, f"/reviews/{view.id}", f"Closed: {view.decided} of {view.items} decided."
    )


@page("GET", "/reviews/{campaign}/report", Permission.REVIEWS_MANAGE)
async def report(request: Request, campaign: SegmentName) -> Response:
    """The evidence, streamed: the printable page, or ``?format=csv|json``."""
    ctx = web_context(request)
    fmt = request.query_params.get("format", "html")
    if fmt not in export.FORMATS:
        raise Refused(400, f"format: one of {', '.join(export.FORMATS)}")
    with ctx.store.db.sessions() as session:
        try:
            view = reviews.campaign_view(session, campaign)
        except USER_ERRORS as exc:
            raise Refused(404, one_line(exc)) from None
        progress = reviews.progress(session, view.id)

    def body() -> Iterator[str]:
        with ctx.store.db.sessions() as session:
            records = reviews.report_records(session, view.id)
            yield from export.chunks(fmt, view, progress, records, ctx.clock.now())

    headers = {"Cache-Control": "no-store"}
    if fmt != "html":
        headers["Content-Disposition"] = f'attachment; filename="review-{view.id}.{fmt}"'
    return StreamingResponse(body(), media_type=export.MEDIA_TYPES[fmt], headers=headers)


# --------------------------------------------------------------------------- the reviewer


def _reviewer_page(
    request: Request, campaign: str | int, reviewer: str | None, action: str, *, link: bool
) -> Response:
    """The reviewer's items a page at a time (``MINE_PAGE``, keyset: the page's cost), with
    the exact counts of all of them; htmx's "More" asks for the next page's sections only."""
    ctx = web_context(request)
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > 1000:
        raise Refused(400, "cursor: at most 1000 characters")
    with ctx.store.db.sessions() as session:
        try:
            view = reviews.campaign_view(session, campaign)
            items, following = reviews.my_items_page(
                session, view.id, reviewer, cursor=cursor, limit=reviews.MINE_PAGE
            )
        except CursorError as exc:
            raise Refused(400, one_line(exc)) from None
        except USER_ERRORS as exc:
            raise Refused(404, one_line(exc)) from None
        total, undecided = reviews.my_counts(session, view.id, reviewer)
    holders: dict[str, list[ItemView]] = {}
    for item in items:
        holders.setdefault(item.holder or item.username or "?", []).append(item)
    more = None
    if following is not None:
        more = f"{action}{'&' if '?' in action else '?'}cursor={quote(following, safe='')}"
    values = {
        "campaign": view,
        "reviewer": reviewer,
        "holders": holders,
        "action": action,
        "link": link,
        "undecided": undecided,
        "total": total,
        "shown": len(items),
        "more": more,
        "continued": bool(items) and reviews.continues(cursor, items[0]),
    }
    more_only = request.headers.get("hx-request") == "true" and cursor is not None
    answer = render(
        request, "reviews/mine_items.html" if more_only else "reviews/mine.html", values
    )
    if link:
        answer.headers.update(LINK_HEADERS)
    return answer


async def _decide(
    request: Request, campaign: str | int, reviewer: str | None, back: str, actor: str
) -> Response:
    ctx = web_context(request)
    form = await request.form()
    decision = _field(form, "decision")
    reason, to = _field(form, "reason") or None, _field(form, "to") or None
    item, holder = _field(form, "item"), _field(form, "holder")

    def record() -> tuple[str, int]:
        with ctx.store.db.transaction() as session:
            if holder:
                done = reviews.decide_for_holder(
                    session,
                    ctx.clock,
                    campaign,
                    holder,
                    reviewer,
                    decision,
                    reason=reason,
                    to=to,
                    actor=actor,
                )
                return f"{decision}: {len(done)} seats of {holder}.", len(done)
            if not item.isdigit() or len(item) > 18:
                raise reviews.ReviewError("choose an item")
            one = reviews.decide(
                session,
                ctx.clock,
                campaign,
                int(item),
                reviewer,
                decision,
                reason=reason,
                to=to,
                actor=actor,
            )
            return f"{decision}: {one.app} of {one.holder}.", 1

    try:
        said, count = await run_in_threadpool(record)
    except reviews.NotYourItem as exc:
        raise Refused(403, one_line(exc)) from None
    except USER_ERRORS as exc:
        return redirect(request, back, f"Not recorded: {one_line(exc)}")
    new = reviews.normal_email(to) if decision == "reassign" else None
    if new is not None:  # the new reviewer hears of it at once
        said += await run_in_threadpool(_tell_assigned, request, campaign, new, count)
    return redirect(request, back, said)


@page("GET", "/reviews/{campaign}/mine", Permission.REVIEWS_DECIDE)
async def mine(request: Request, campaign: SegmentName) -> Response:
    path = f"/reviews/{quote(campaign, safe='')}/mine"
    return _reviewer_page(request, campaign, _me(request), path, link=False)


@page("POST", "/reviews/{campaign}/mine", Permission.REVIEWS_DECIDE)
async def decide_mine(request: Request, campaign: SegmentName) -> Response:
    path = f"/reviews/{quote(campaign, safe='')}/mine"
    me = _me(request)
    return await _decide(request, campaign, me, path, f"web:{viewer_of(request).username}")


def _link(request: Request) -> tuple[links.ReviewerLink, str]:
    ctx = web_context(request)
    token = request.query_params.get("t", "")
    try:
        with ctx.store.db.sessions() as session:
            found = links.open_link(session, ctx.store.keys, ctx.clock.now(), token)
    except links.LinkRefused as exc:
        raise Refused(403, f"{exc}. Ask the campaign's owner for a new one.") from None
    return found, f"{links.PAGE}?t={quote(token, safe='')}"


@page("GET", links.PAGE, None)
async def by_link(request: Request) -> Response:
    """The reviewer's page through their email's signed link (no sign-in)."""
    found, path = _link(request)
    return _reviewer_page(request, found.campaign_id, found.reviewer, path, link=True)


@page("POST", links.PAGE, None)
async def decide_by_link(request: Request) -> Response:
    found, path = _link(request)
    return await _decide(request, found.campaign_id, found.reviewer, path, f"link:{found.reviewer}")
