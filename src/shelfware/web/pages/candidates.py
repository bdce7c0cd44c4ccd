"""The removal candidates queue: filter, preview a reclaim (dry run), reclaim one or many."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.overview.catalogue import candidate_states
from shelfware.ranges import MAX_ID
from shelfware.reclamation import service as reclamation
from shelfware.reclamation import workflow
from shelfware.reclamation.schemas import ReclaimRequest
from shelfware.web.context import viewer_of, web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.routing import Refused, page
from shelfware.web.templating import redirect, render

SHOWN = 500


def _queue(request: Request, state: str | None, profile: str | None) -> dict[str, object]:
    ctx = web_context(request)
    with ctx.store.db.sessions() as session:
        try:
            rows = reclamation.list_candidates(
                session, state=state, profile=profile, now=ctx.clock.now()
            )
        except USER_ERRORS as exc:
            raise Refused(400, one_line(exc)) from None
    return {
        "candidates": rows[:SHOWN],
        "total": len(rows),
        "state": state,
        "profile": profile,
        "states": candidate_states(),
    }


@page("GET", "/candidates", Permission.CANDIDATES_READ)
async def candidates(request: Request) -> Response:
    q = request.query_params
    return render(
        request,
        "candidates.html",
        _queue(request, q.get("state") or None, q.get("profile") or None),
    )


@page("POST", "/candidates/reclaim", Permission.CANDIDATES_ACT)
async def candidates_reclaim(request: Request) -> Response:
    """``action=preview``: re-read each account and say what a reclaim would do (changes
    nothing); ``action=reclaim``: do it."""
    ctx = web_context(request)
    form = await request.form()
    preview = form.get("action") != "reclaim"
    try:
        wanted = ReclaimRequest(
            ids=[int(str(i)) for i in form.getlist("ids")],
            all_ready=form.get("all_ready") == "on",
            dry_run=preview,
        )
        outcomes = await reclamation.reclaim_candidates(
            ctx.store.db,
            ctx.store.keys,
            ctx.clock,
            ids=wanted.ids,
            all_ready=wanted.all_ready,
            dry_run=wanted.dry_run,
        )
    except USER_ERRORS as exc:
        return render(
            request,
            "candidates.html",
            {**_queue(request, None, None), "error": one_line(exc)},
            status=400,
        )
    return render(
        request,
        "reclaim_outcome.html",
        {"outcomes": outcomes, "preview": preview, "wanted": wanted},
    )


async def _decide(request: Request, candidate_id: int, action: str) -> Response:
    ctx = web_context(request)
    if not 1 <= candidate_id <= MAX_ID:
        raise Refused(404, f"no candidate {candidate_id}")
    actor = f"web:{viewer_of(request).username}"
    try:
        with ctx.store.db.transaction() as session:
            said = workflow.decide(session, ctx.clock, candidate_id, action, actor=actor)
    except USER_ERRORS as exc:
        return redirect(request, "/candidates", f"Candidate {candidate_id}: {one_line(exc)}")
    return redirect(
        request, "/candidates?state=awaiting_approval", f"Candidate {candidate_id}: {said}"
    )


@page("POST", "/candidates/{candidate_id}/approve", Permission.CANDIDATES_ACT)
async def candidate_approve(request: Request, candidate_id: int) -> Response:
    """Approve the removal of a seat its user wanted to keep."""
    return await _decide(request, candidate_id, "approve")


@page("POST", "/candidates/{candidate_id}/reject", Permission.CANDIDATES_ACT)
async def candidate_reject(request: Request, candidate_id: int) -> Response:
    """Decline the removal: the user keeps the seat."""
    return await _decide(request, candidate_id, "reject")
