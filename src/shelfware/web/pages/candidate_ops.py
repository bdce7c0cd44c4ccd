"""Candidates that need a person: Retry one that needed attention, and run the workflow step
now (ask users, remind them, ask approvers, reclaim what is decided), or see first what it
would do. The same workflow service as the scheduler, the CLI and the API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.notifications.service import Notifier
from shelfware.reclamation import workflow
from shelfware.settings import get_settings
from shelfware.web.context import web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.pages.candidates import _decide, _settings
from shelfware.web.routing import page
from shelfware.web.templating import redirect, render


@page("POST", "/candidates/{candidate_id}/retry", Permission.CANDIDATES_ACT)
async def candidate_retry(request: Request, candidate_id: int) -> Response:
    """What needed attention was fixed (an address added, the failed reclaim looked into):
    the candidate is ready again."""
    return await _decide(request, candidate_id, "retry", back="/candidates?state=ready")


@page("POST", "/candidates/advance", Permission.CANDIDATES_ACT)
async def candidates_advance(request: Request) -> Response:
    """``action=preview``: what the workflow step would do (a dry run: nobody is asked,
    nothing reclaimed). Otherwise run it: the reclaims stay under the cap (over it, nothing
    is reclaimed and the queue says why)."""
    ctx = web_context(request)
    form = await request.form()
    try:
        report = await workflow.advance(
            ctx.store.db,
            ctx.store.keys,
            ctx.clock,
            Notifier(_settings(ctx) or get_settings()),
            dry_run=form.get("action") == "preview",
        )
    except USER_ERRORS as exc:
        return redirect(request, "/candidates", f"The workflow step stopped: {one_line(exc)}")
    return render(request, "candidate_advance.html", {"report": report})
