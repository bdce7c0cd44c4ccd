"""Record selection (the JSONPath subset) and error envelopes."""

from __future__ import annotations

import pytest

from shelfware.connectors.toolkit import MISSING, ErrorEnvelope, JsonPath, PathError, path
from shelfware.connectors.toolkit.selectors import RecordSelector, SelectionError, integer_at

BODY = {
    "QueryResult": {"TotalResultCount": 3, "Results": [{"a": 1}, {"a": 2}], "Errors": []},
    "data": [{"user": {"email": "x@example.com"}}, {"user": {}}],
    "odd key": {"n": "7"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$", BODY),
        ("$.QueryResult.TotalResultCount", 3),
        ("QueryResult.Results", [{"a": 1}, {"a": 2}]),
        ("$.QueryResult.Results[1].a", 2),
        ("$.QueryResult.Results[-1].a", 2),
        ("$.data[*].user.email", ["x@example.com"]),
        ("$['odd key'].n", "7"),
        ('$["odd key"]["n"]', "7"),
        ("$.missing.deeper", MISSING),
        ("$.QueryResult.Results[5]", MISSING),
    ],
)
def test_paths_find_what_they_name(text: str, expected: object) -> None:
    assert path(text).find(BODY) == expected


@pytest.mark.parametrize("text", ["", "$..x", "$.a[?(@.b)]", "$.a[", "$.a b", "$.a.(b)"])
def test_unsupported_paths_are_rejected_naming_the_problem(text: str) -> None:
    with pytest.raises(PathError) as caught:
        JsonPath.parse(text)
    assert "path" in str(caught.value)


def test_record_selector_and_counts() -> None:
    assert RecordSelector.at("QueryResult.Results").select(BODY) == [{"a": 1}, {"a": 2}]
    with pytest.raises(SelectionError, match="has no Results"):
        RecordSelector.at("Results").select(BODY)
    assert RecordSelector.at("Results", allow_missing=True).select(BODY) == []
    assert integer_at(BODY, path("$['odd key'].n")) == 7
    assert integer_at(BODY, path("nothing")) is None
    with pytest.raises(SelectionError, match="not a count"):
        integer_at(BODY, path("data"))


def test_error_envelopes_read_strings_and_objects() -> None:
    assert ErrorEnvelope.at("QueryResult.Errors").errors(BODY) == []
    rally = {"QueryResult": {"Errors": ["Could not parse: bad query"]}}
    assert ErrorEnvelope.at("QueryResult.Errors").errors(rally) == ["Could not parse: bad query"]
    graphql = {"errors": [{"message": "Unauthorized", "extensions": {"code": "UNAUTH"}}]}
    assert ErrorEnvelope.at("errors").errors(graphql) == ["Unauthorized"]
    okta = {"errors": {"errorSummary": "Invalid token provided"}}
    assert ErrorEnvelope.at("errors").errors(okta) == ["Invalid token provided"]
