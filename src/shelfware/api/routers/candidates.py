"""Removal candidates: the queue, the workflow's decisions one by one and in bulk, the
workflow step (``advance``), and reclaim within the blast-radius cap (with a dry run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Printable, RecordId, Ws, next_page, settings_of
from shelfware.api.errors import ApiError
from shelfware.appstate import Workspace
from shelfware.audit.service import acting_as
from shelfware.notifications.service import Notifier
from shelfware.ranges import MAX_LIST, MAX_NAME, MAX_TEXT, Id
from shelfware.reclamation import service, workflow
from shelfware.reclamation.schemas import (
    CandidateView,
    ReclaimOutcomeView,
    ReclaimRequest,
)

router = APIRouter(prefix="/candidates", tags=["candidates"])


class Action(StrEnum):
    APPROVE = "approve"  # a pending approval: remove the seat (reclaimed at the next advance)
    REJECT = "reject"  # a pending approval: the user keeps the seat (closed as skipped)
    KEEP = "keep"  # the user's answer, as their link would give it
    RELEASE = "release"
    RETRY = "retry"  # a candidate that needed attention is fixed: ready again


class Acted(BaseModel):
    action: Action
    result: str
    candidate: CandidateView


class BulkAction(BaseModel):
    """One action on many candidates: all of them, or none when one is refused."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    ids: list[Id] = Field(min_length=1, max_length=MAX_LIST)


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="change nothing; say what would happen")
    force: bool = Field(
        default=False, description="exceed the blast-radius cap (admin only; needs reason)"
    )
    reason: str = Field(default="", max_length=MAX_TEXT, description="recorded when forced")


class AdvanceView(BaseModel):
    """What one workflow step did (or, with ``dry_run``, would do), by candidate id."""

    dry_run: bool
    notified: list[int]
    reminded: list[int]
    approvals_requested: list[int]
    cooling_down: list[int]
    needs_person: list[int]
    delivery_failed: dict[str, str] = Field(
        description="per candidate id: why its message was not delivered (the step went on)"
    )
    chat_failed: list[str] = Field(description="summaries the shared chat webhook did not take")
    due: list[int]
    reclaim: list[ReclaimOutcomeView]


@router.get("", response_model=list[CandidateView])
def list_candidates(
    request: Request,
    response: Response,
    ws: Ws,
    state: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME), Printable] = None,
    profile: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME), Printable] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    _: Principal = allowed(Permission.CANDIDATES_READ),
) -> list[CandidateView]:
    """Removal candidates, biggest saving first, one page at a time (keyset paging: a page
    costs what it holds). The body is the page (a list, as before); when more follow, the
    ``X-Next-Cursor`` header carries the cursor to pass as ``cursor`` (same filters), and
    ``Link: <...>; rel="next"`` the whole address of the next page."""
    with ws.read() as session:
        page = service.page_candidates(
            session, state=state, profile=profile, cursor=cursor, limit=limit, now=ws.clock.now()
        )
    next_page(request, response, page.next_cursor)
    return page.items


def _act(ws: Workspace, principal: Principal, action: Action, ids: list[int]) -> list[Acted]:
    """Apply ``action`` to every candidate in one transaction (a refusal changes nothing)."""
    clock, actor = ws.clock, principal.actor
    results: dict[int, str] = {}
    with ws.write(actor) as session:
        for cand in ids:
            results[cand] = workflow.decide(session, clock, cand, action.value, actor=actor)
        session.flush()
        views = {
            c.id: c for c in service.list_candidates(session, ids=list(results), now=clock.now())
        }
    return [Acted(action=action, result=results[i], candidate=views[i]) for i in results]


@router.post("/actions", response_model=list[Acted])
def act_on_many(
    request: BulkAction, ws: Ws, principal: Principal = allowed(Permission.CANDIDATES_ACT)
) -> list[Acted]:
    """Approve, reject, keep, release or retry many candidates at once: every one, or none
    (the answer names the first candidate that refused, and nothing is changed)."""
    return _act(ws, principal, request.action, list(dict.fromkeys(request.ids)))


def _single(action: Action, summary: str) -> None:
    @router.post(f"/{{candidate_id}}/{action.value}", response_model=Acted, summary=summary)
    def act_on_one(
        candidate_id: RecordId, ws: Ws, principal: Principal = allowed(Permission.CANDIDATES_ACT)
    ) -> Acted:
        """A transition the candidate's state does not allow is a 409 naming both states."""
        return _act(ws, principal, action, [candidate_id])[0]


for _action, _summary in (
    (Action.APPROVE, "Approve the removal of a seat its user wanted to keep"),
    (Action.REJECT, "Decline the removal: the user keeps the seat"),
    (Action.KEEP, "Answer keep for the user (as their link would)"),
    (Action.RELEASE, "Answer release for the user (as their link would)"),
    (Action.RETRY, "A candidate that needed attention is fixed: ready again"),
):
    _single(_action, _summary)


def _override(principal: Principal, force: bool, reason: str) -> service.Override | None:
    """Only an admin's ``force`` (with a ``reason``) exceeds the cap; anyone else's is a 403."""
    return service.override_for(force, reason, principal.actor, principal.role)


@contextmanager
def _forbidden_force() -> Iterator[None]:
    try:
        yield
    except service.ForceNotAllowed as exc:
        raise ApiError(403, str(exc), field="force") from None


async def _reclaim(
    ws: Workspace, principal: Principal, request: ReclaimRequest
) -> list[ReclaimOutcomeView]:
    with acting_as(principal.actor), _forbidden_force():
        return await service.reclaim_candidates(
            ws.store.db,
            ws.store.keys,
            ws.clock,
            ids=request.ids,
            all_ready=request.all_ready,
            dry_run=request.dry_run,
            override=_override(principal, request.force, request.reason),
            settings=settings_of(ws),
        )


@router.post("/advance", response_model=AdvanceView)
async def advance(
    ws: Ws,
    request: AdvanceRequest | None = None,
    principal: Principal = allowed(Permission.CANDIDATES_ACT),
) -> AdvanceView:
    """The workflow's step: ask users (keep / release links, when a notification channel is
    configured), remind them, ask approvers, and reclaim what is decided, within the
    blast-radius cap (422 over it, unless an admin's ``force`` with a ``reason``: 403 for any
    other role)."""
    asked = request or AdvanceRequest()
    checked = ReclaimRequest(
        all_ready=True, dry_run=asked.dry_run, force=asked.force, reason=asked.reason
    )
    override = _override(principal, checked.force, checked.reason)
    with acting_as(principal.actor), _forbidden_force():
        service.check_override(override)  # before anyone is notified
        report = await workflow.advance(
            ws.store.db,
            ws.store.keys,
            ws.clock,
            Notifier(settings_of(ws)),
            override=override,
            dry_run=checked.dry_run,
        )
    return AdvanceView(
        dry_run=report.dry_run,
        notified=report.notified,
        reminded=report.reminded,
        approvals_requested=report.approvals_requested,
        cooling_down=report.cooling_down,
        needs_person=report.needs_person,
        delivery_failed={str(k): v for k, v in report.delivery_failed.items()},
        chat_failed=report.chat_failed,
        due=report.due,
        reclaim=report.reclaim,
    )


@router.post("/reclaim", response_model=list[ReclaimOutcomeView])
async def reclaim_many(
    request: ReclaimRequest, ws: Ws, principal: Principal = allowed(Permission.CANDIDATES_ACT)
) -> list[ReclaimOutcomeView]:
    """Re-read each account, then reclaim it (or cancel the candidate); ``dry_run`` changes
    nothing and says what would happen. The cap is per software model over a rolling window
    (``SHELFWARE_RECLAIM_*``), counted across every face and process: a run over it is refused
    (422, naming what the window already holds) before the first reclaim, unless an admin's
    ``force`` with a ``reason`` (recorded in the audit trail); ``force`` from any other role
    is refused (403)."""
    return await _reclaim(ws, principal, request)


@router.post("/{candidate_id}/reclaim", response_model=ReclaimOutcomeView)
async def reclaim_one(
    candidate_id: RecordId,
    ws: Ws,
    dry_run: Annotated[bool, Query()] = False,
    force: Annotated[bool, Query(description="exceed the blast-radius cap (admin only)")] = False,
    reason: Annotated[
        str, Query(max_length=MAX_TEXT, description="why (recorded)"), Printable
    ] = "",
    principal: Principal = allowed(Permission.CANDIDATES_ACT),
) -> ReclaimOutcomeView:
    request = ReclaimRequest(ids=[candidate_id], dry_run=dry_run, force=force, reason=reason)
    outcomes = await _reclaim(ws, principal, request)
    if not outcomes:
        raise LookupError(f"no candidate {candidate_id} that can be reclaimed")
    return outcomes[0]
