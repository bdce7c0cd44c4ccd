"""One person (``/people/{id}``): their seats across apps, identity-provider status, manager,
groups, department, whether they left; and their offboarding: reclaim every seat they hold,
previewed first (what each seat becomes, the money, the cap), then confirmed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shelfware.accounts.roles import Permission
from shelfware.directory import service as directory
from shelfware.kit.signing import Signer
from shelfware.ranges import MAX_ID
from shelfware.reclamation import offboarding
from shelfware.reclamation import service as reclamation
from shelfware.settings import get_settings
from shelfware.subscriptions.service import get_person
from shelfware.web.context import viewer_of, web_context
from shelfware.web.errors import USER_ERRORS, one_line
from shelfware.web.pages.candidates import PREVIEW_SECONDS, _settings
from shelfware.web.routing import Refused, page
from shelfware.web.templating import render

OFFBOARD_PURPOSE = "offboard preview"


def _signed_over(viewer: str, person_id: int, seats: list[int]) -> str:
    """What an offboarding preview's token is signed over: who saw it, whom, which seats."""
    return f"{viewer}|{person_id}|{','.join(str(s) for s in sorted(set(seats)))}"


def _context(request: Request, person_id: int) -> dict[str, Any]:
    ctx = web_context(request)
    if not 1 <= person_id <= MAX_ID:
        raise Refused(404, f"no person with id {person_id}")
    limits = reclamation.Limits.of(_settings(ctx) or get_settings())
    with ctx.store.db.sessions() as session:
        try:
            person = directory.person_by_id(session, person_id)
            _, accounts = get_person(session, person_id)
            plan = offboarding.offboard_plan(session, person_id, ctx.clock.now(), limits)
        except LookupError as exc:
            raise Refused(404, one_line(exc)) from None
    return {
        "person": person,
        "accounts": accounts,
        "plan": plan,
        "notes": {s.subscription_id: s for s in plan.seats},
        "left": person.left,
    }


def _person_page(
    request: Request, person_id: int, error: str | None = None, status: int = 200
) -> Response:
    return render(
        request, "person.html", {**_context(request, person_id), "error": error}, status=status
    )


@page("GET", "/people/{person_id}", Permission.PEOPLE_READ)
async def person_detail(request: Request, person_id: int) -> Response:
    return _person_page(request, person_id)


@page("POST", "/people/{person_id}/offboard", Permission.CANDIDATES_ACT)
async def person_offboard(request: Request, person_id: int) -> Response:
    """``action=preview``: the person's page with what the offboarding would do to each seat,
    the money a year, and whether the cap allows it; only that preview offers the reclaim,
    for exactly the seats it showed (a signed token, 15 minutes). ``action=reclaim``: do it
    through the reclaim (re-read, exclusions, cap, audit)."""
    ctx = web_context(request)
    viewer = viewer_of(request).username
    form = await request.form()
    signer = Signer(ctx.store.keys, OFFBOARD_PURPOSE)
    now = int(ctx.clock.now().timestamp())
    if form.get("action") != "reclaim":
        context = _context(request, person_id)
        seats = context["plan"].reclaimable
        token = signer.sign(_signed_over(viewer, person_id, seats), now)
        return render(
            request, "person.html", {**context, "previewing": True, "offboard_token": token}
        )
    try:
        seats = [int(str(s)) for s in form.getlist("seats")]
    except ValueError:
        raise Refused(400, "the seats of the preview are not numbers: preview again") from None
    if not signer.verify(
        str(form.get("offboard_token") or ""),
        _signed_over(viewer, person_id, seats),
        now,
        PREVIEW_SECONDS,
    ):
        return _person_page(
            request,
            person_id,
            "preview the offboarding first: the reclaim is offered only on its preview, for "
            "exactly the seats it showed (and for 15 minutes)",
            status=400,
        )
    try:
        outcomes = await offboarding.offboard(
            ctx.store.db,
            ctx.store.keys,
            ctx.clock,
            person_id,
            seats,
            actor=f"web:{viewer}",
            settings=_settings(ctx),
        )
        with ctx.store.db.sessions() as session:
            summary = reclamation.reclaim_summary(
                session, [o.candidate_id for o in outcomes if o.action == "reclaimed"]
            )
    except USER_ERRORS as exc:
        return _person_page(request, person_id, one_line(exc), status=400)
    return render(
        request,
        "reclaim_outcome.html",
        {
            "outcomes": outcomes,
            "preview": False,
            "ids": [],
            "summary": summary,
            "back": f"/people/{person_id}",
        },
    )
