"""The removal candidates queue: filter, preview a reclaim (dry run), then reclaim exactly what
the preview showed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.kit.signing import Signer
from shelfware.overview.catalogue import candidate_states
from shelfware.ranges import MAX_ID, MAX_NAME
from shelfware.reclamation import service as reclamation
from shelfware.reclamation import workflow
from shelfware.reclamation.schemas import CANDIDATE_PAGE_LIMIT, CandidateView, ReclaimRequest
from shelfware.settings import Settings
from shelfware.web import exports
from shelfware.web.context import WebContext, viewer_of, web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect, render

SHOWN = 100  # a page of the queue; "More" loads the next one (keyset: each costs the same)


def _queue(request: Request) -> tuple[bool, dict[str, object]]:
    ctx = web_context(request)
    q = request.query_params
    state, profile = q.get("state") or None, q.get("profile") or None
    cursor = q.get("cursor") or None
    if (cursor and len(cursor) > 1000) or (profile and len(profile) > MAX_NAME):
        raise Refused(400, f"cursor: at most 1000 characters; profile: at most {MAX_NAME}")
    more_only = request.headers.get("hx-request") == "true" and cursor is not None
    with ctx.store.db.sessions() as session:
        try:
            found = reclamation.page_candidates(
                session,
                state=state,
                profile=profile,
                cursor=cursor,
                limit=SHOWN,
                now=ctx.clock.now(),
            )
            totals = (
                None
                if more_only
                else reclamation.candidate_totals(session, state=state, profile=profile)
            )
        except USER_ERRORS as exc:
            raise Refused(400, one_line(exc)) from None
    return more_only, {
        "page": found,
        "total": totals.count if totals else 0,
        "totals": totals,
        "cursor": cursor,
        "query": {k: v for k, v in q.items() if k != "cursor"},
        "state": state,
        "profile": profile,
        "states": candidate_states(),
    }


@page("GET", "/candidates", Permission.CANDIDATES_READ)
async def candidates(request: Request) -> Response:
    more_only, context = _queue(request)
    if exports.wants_csv(request):
        return _candidates_csv(web_context(request), request)
    context["csv_url"] = exports.csv_url(request)
    return render(request, "candidate_rows.html" if more_only else "candidates.html", context)


PREVIEW_PURPOSE = "reclaim preview"
PREVIEW_SECONDS = 15 * 60  # a preview older than this is shown again before a reclaim


def _selection(viewer: str, ids: list[int]) -> str:
    """What a preview token is signed over: who saw it and exactly which candidates."""
    return f"{viewer}|{','.join(str(i) for i in sorted(set(ids)))}"


def _settings(ctx: WebContext) -> Settings | None:
    """The workspace's configuration when it was given one, else the domain reads the
    environment's (the cap's limits are never the page's to choose)."""
    found = ctx.workspace.extras.get("settings")
    return found if isinstance(found, Settings) else None


@page("POST", "/candidates/reclaim", Permission.CANDIDATES_ACT)
async def candidates_reclaim(request: Request) -> Response:
    """``action=preview``: re-read each account and say what a reclaim would do (changes
    nothing), with how many seats, which apps and how much money a year; only that page
    offers the reclaim, for exactly the candidates it showed. ``action=reclaim``: do it, only
    with the preview's signed token over the same ids (else 400: preview first). The cap
    (per model, rolling window, across every face) is the domain's: over it, the preview says
    so and no reclaim is offered; a reclaim over it stops before the first seat."""
    ctx = web_context(request)
    viewer = viewer_of(request).username
    form = await request.form()
    preview = form.get("action") != "reclaim"
    signer = Signer(ctx.store.keys, PREVIEW_PURPOSE)
    now = int(ctx.clock.now().timestamp())
    try:
        wanted = ReclaimRequest(
            ids=[int(str(i)) for i in form.getlist("ids")],
            all_ready=form.get("all_ready") == "on",
            dry_run=preview,
        )
        if not preview and (
            wanted.all_ready
            or not signer.verify(
                str(form.get("preview_token") or ""),
                _selection(viewer, wanted.ids),
                now,
                PREVIEW_SECONDS,
            )
        ):
            return _refused(
                request,
                "preview the reclaim first: a reclaim is offered only on its preview, for "
                "exactly the candidates it showed (and for 15 minutes)",
            )
        outcomes = await reclamation.reclaim_candidates(
            ctx.store.db,
            ctx.store.keys,
            ctx.clock,
            ids=wanted.ids,
            all_ready=wanted.all_ready,
            dry_run=wanted.dry_run,
            settings=_settings(ctx),
        )
        shown = [o.candidate_id for o in outcomes]
        with ctx.store.db.sessions() as session:
            summary = reclamation.reclaim_summary(
                session,
                [o.candidate_id for o in outcomes if o.action in ("would_reclaim", "reclaimed")],
            )
    except USER_ERRORS as exc:
        return _refused(request, one_line(exc))
    return render(
        request,
        "reclaim_outcome.html",
        {
            "outcomes": outcomes,
            "preview": preview,
            "ids": shown,
            "summary": summary,
            "preview_token": signer.sign(_selection(viewer, shown), now) if preview else "",
        },
    )


def _refused(request: Request, message: str) -> Response:
    return render(
        request,
        "candidates.html",
        {**_queue(request)[1], "error": message},
        status=400,
    )


async def _decide(
    request: Request,
    candidate_id: int,
    action: str,
    back: str = "/candidates?state=awaiting_approval",
) -> Response:
    ctx = web_context(request)
    if not 1 <= candidate_id <= MAX_ID:
        raise Refused(404, f"no candidate {candidate_id}")
    actor = f"web:{viewer_of(request).username}"
    try:
        with ctx.store.db.transaction() as session:
            said = workflow.decide(session, ctx.clock, candidate_id, action, actor=actor)
    except USER_ERRORS as exc:
        return redirect(request, "/candidates", f"Candidate {candidate_id}: {one_line(exc)}")
    return redirect(request, back, f"Candidate {candidate_id}: {said}")


@page("POST", "/candidates/{candidate_id}/approve", Permission.CANDIDATES_ACT)
async def candidate_approve(request: Request, candidate_id: int) -> Response:
    """Approve the removal of a seat its user wanted to keep."""
    return await _decide(request, candidate_id, "approve")


@page("POST", "/candidates/{candidate_id}/reject", Permission.CANDIDATES_ACT)
async def candidate_reject(request: Request, candidate_id: int) -> Response:
    """Decline the removal: the user keeps the seat."""
    return await _decide(request, candidate_id, "reject")


def _candidates_csv(ctx: WebContext, request: Request) -> Response:
    """Every candidate the filters select, in the queue's order, a keyset page per read."""
    q = request.query_params
    state, profile = q.get("state") or None, q.get("profile") or None
    fields = exports.fields_of(CandidateView)

    def fetch(session: Any, cursor: str | None) -> tuple[list[CandidateView], str | None]:
        found = reclamation.page_candidates(
            session,
            state=state,
            profile=profile,
            cursor=cursor,
            limit=CANDIDATE_PAGE_LIMIT,
            now=ctx.clock.now(),
        )
        return found.items, found.next_cursor

    rows = exports.views(exports.paged(ctx.store.db, fetch), fields)
    return exports.csv_download("candidates", fields, rows)
