"""Subscriptions (filter, sort, cursor paging) and the people behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from shelfware.accounts.roles import Permission
from shelfware.accounts.schemas import Principal
from shelfware.api.auth import allowed
from shelfware.api.deps import Printable, RecordId, Ws
from shelfware.ranges import MAX_NAME
from shelfware.subscriptions import service
from shelfware.subscriptions.schemas import (
    PAGE_LIMIT,
    PeoplePage,
    PersonView,
    SubscriptionPage,
    SubscriptionPageQuery,
    SubscriptionView,
)

router = APIRouter(tags=["subscriptions"])


@router.get("/subscriptions", response_model=SubscriptionPage)
def list_subscriptions(
    query: Annotated[SubscriptionPageQuery, Query()],
    ws: Ws,
    _: Principal = allowed(Permission.SUBSCRIPTIONS_READ),
) -> SubscriptionPage:
    """Accounts holding seats (``all``: every account), one page at a time: pass
    ``next_cursor`` as ``cursor`` for the next page, with the same filters and sort."""
    with ws.read() as session:
        return service.page_subscriptions(session, query)


class PersonDetail(BaseModel):
    person: PersonView
    subscriptions: list[SubscriptionView]


@router.get("/people", response_model=PeoplePage, tags=["people"])
def list_people(
    ws: Ws,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_NAME, description="the start of the email"),
        Printable,
    ] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50,
    _: Principal = allowed(Permission.PEOPLE_READ),
) -> PeoplePage:
    """People (one human across apps, matched by email), with the seats they hold."""
    with ws.read() as session:
        return service.page_people(session, q=q, cursor=cursor, limit=limit)


@router.get("/people/{person_id}", response_model=PersonDetail, tags=["people"])
def get_person(
    person_id: RecordId, ws: Ws, _: Principal = allowed(Permission.PEOPLE_READ)
) -> PersonDetail:
    with ws.read() as session:
        person, subscriptions = service.get_person(session, person_id)
    return PersonDetail(person=person, subscriptions=subscriptions)
