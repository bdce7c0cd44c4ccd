"""What endpoints share: the workspace, and JSON-safe shapes for service results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from pydantic import AfterValidator, BeforeValidator

from shelfware.api.auth import workspace
from shelfware.appstate import Workspace
from shelfware.kit.asgi import segment
from shelfware.ranges import MAX_ID, MAX_NAME, printable
from shelfware.settings import Settings, get_settings

Ws = Annotated[Workspace, Depends(workspace)]
# A keyset-paged listing: the page's size and the cursor its previous page handed out.
PageLimit = Annotated[int, Query(ge=1, le=10_000, description="rows in the page")]
PageCursor = Annotated[
    str | None, Query(max_length=1000, description="X-Next-Cursor of the previous page")
]


def next_page(request: Request, response: Response, cursor: str | None) -> None:
    """A paged listing keeps its plain-list body; when more follow, the ``X-Next-Cursor``
    header carries the cursor to pass as ``cursor`` (same filters) and ``Link: <...>;
    rel="next"`` the whole address of the next page."""
    if cursor is not None:
        following = request.url.include_query_params(cursor=cursor)
        response.headers["X-Next-Cursor"] = cursor
        response.headers["Link"] = f'<{following}>; rel="next"'


def _printable(value: str | None) -> str | None:
    return None if value is None else printable(value)


# On every text parameter: no NUL or other control character (PostgreSQL refuses NUL in a
# string: without this a search for "\x00" was a database error).
Printable = AfterValidator(_printable)
# A name in a path arrives with "/" and "%" still escaped (kit.asgi.EncodedSlashes): decoded
# here, so "a/b?c#d %e" is reachable as /profiles/a%2Fb%3Fc%23d%20%25e.
Segment = BeforeValidator(lambda value: segment(value) if isinstance(value, str) else value)

ProfileName = Annotated[
    str,
    Path(min_length=1, max_length=MAX_NAME, description="the profile's name, percent-encoded"),
    Segment,
    Printable,
]
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="a record id")]
ModelName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME,
        description="a software model: its id or 'Publisher Product Edition', percent-encoded",
    ),
    Segment,
    Printable,
]
PathName = Annotated[
    str,
    Path(min_length=1, max_length=MAX_NAME, description="a name, percent-encoded"),
    Segment,
    Printable,
]


def settings_of(ws: Workspace) -> Settings:
    """The configuration (reclaim cap, notification channels): the one the workspace was
    given (``extras["settings"]``), else read from the environment once."""
    found = ws.extras.get("settings")
    if not isinstance(found, Settings):
        found = ws.extras["settings"] = get_settings()
    return found


def jsonable(value: Any) -> Any:
    """Mappings and sequences as plain JSON values (facts of a validation report)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
