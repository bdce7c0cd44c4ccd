"""`GoneWhen`: a not-found answer is "gone" only when the vendor's own answer names the object;
a router's or proxy's 404 (HTML, empty, another shape, a path echo) raises `NotGone`.

The answers are real `httpx.Response` objects as the client receives them (the matcher reads
status and body only); the connectors' tests exercise the same shapes over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shelfware.connectors.toolkit import GoneWhen, NotGone

ASANA = GoneWhen.at("errors[*].message", "Unknown object: {id}")
OKTA = GoneWhen.at(
    "errorSummary", "{user} (AppUser)", "{app} (AppInstance)", requires={"errorCode": ["E0000007"]}
)
SCIM = GoneWhen.at(
    "detail",
    "{id}",
    requires={"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": ["404"]},
)
ANYWHERE = GoneWhen.at(None, "{id}")


def answer(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers={"Content-Type": "text/html"})
    if body is None:
        return httpx.Response(status)
    return httpx.Response(status, content=json.dumps(body).encode())


def okta(summary: str, code: str = "E0000007") -> httpx.Response:
    return answer(404, {"errorCode": code, "errorSummary": summary, "errorCauses": []})


def test_the_vendors_own_not_found_names_the_object() -> None:
    asana = answer(404, {"errors": [{"message": "user: Unknown object: 1200", "help": "..."}]})
    assert ASANA.gone(asana, "GET user", id="1200")
    assert OKTA.gone(okta("Not found: Resource not found: 00u9 (AppUser)"), "x", user="00u9")
    assert OKTA.gone(okta("Not found: Resource not found: 0oa1 (AppInstance)"), "x", app="0oa1")
    scim = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "404",
        "detail": "User 'ab-12' not found",
    }
    assert SCIM.gone(answer(404, scim), "GET /Users/ab-12", id="ab-12")


@pytest.mark.parametrize(
    "response",
    [
        answer(404, text="<html><body><h1>404 Not Found</h1>nginx</body></html>"),
        answer(404, text="<html>Not Found: /api/1.0/users/1200/workspace_memberships</html>"),
        answer(404),  # empty body
        answer(404, {"message": "Not Found"}),
        answer(404, {"errors": [{"message": "No matching route for request"}]}),
        # another object named (the workspace, not the user)
        answer(404, {"errors": [{"message": "workspace: Unknown object: 9"}]}),
        # a longer id that starts with the one asked for
        answer(404, {"errors": [{"message": "user: Unknown object: 12001"}]}),
    ],
)
def test_a_404_that_does_not_name_the_object_is_an_error(response: httpx.Response) -> None:
    assert not ASANA.says_gone(response, id="1200")
    with pytest.raises(NotGone, match="404 without naming the object"):
        ASANA.gone(response, "GET /users/1200/workspace_memberships", id="1200")


def test_an_unknown_route_that_echoes_the_path_is_not_the_object() -> None:
    route = okta("Not found: Resource not found: /nope/api/v1/apps/0oa1/users/00u9 (Resource)")
    with pytest.raises(NotGone):
        OKTA.gone(route, "GET", app="0oa1", user="00u9")
    # the right words under another code are not Okta's not-found either
    assert not OKTA.says_gone(okta("Resource not found: 00u9 (AppUser)", "E0000006"), user="00u9")
    # anywhere in the body, but never inside a path or URL a router echoes
    echo = answer(404, {"error": {"message": "no such endpoint: DELETE /v2/members/m_1"}})
    assert not ANYWHERE.says_gone(echo, id="m_1")
    named = answer(404, {"error": {"message": "no member 'm_1'"}})
    assert ANYWHERE.says_gone(named, id="m_1")


def test_other_statuses_are_not_this_matchers_business() -> None:
    ok = answer(200, {"errors": [{"message": "user: Unknown object: 1200"}]})
    assert ASANA.gone(ok, "x", id="1200") is False  # no raise: the caller reads a 200 as usual
    scim_without_schema = answer(404, {"status": "404", "detail": "User 'ab' not found"})
    assert not SCIM.says_gone(scim_without_schema, id="ab")


def test_a_phrase_for_a_404_must_name_the_object() -> None:
    with pytest.raises(ValueError, match="names no object"):
        GoneWhen.at("message", "Not Found")
    # Rally's envelope error answers the request for that very object (HTTP 200)
    rally = GoneWhen.at("OperationResult.Errors", "Cannot find object to update", status=(200,))
    assert rally.says_gone(
        answer(200, {"OperationResult": {"Errors": ["Cannot find object to update"]}})
    )
    assert not rally.says_gone(answer(404, text="<html>Error 404 Not Found</html>"))
