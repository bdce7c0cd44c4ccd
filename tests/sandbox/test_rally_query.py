"""The Rally query language parser and compiler."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shelfware.sandbox.rally_query import (
    Comparison,
    FieldKind,
    Logical,
    QueryError,
    compile_query,
    format_date,
    parse_query,
)

FIELDS: dict[str, FieldKind] = {
    "ObjectID": "int",
    "UserName": "str",
    "EmailAddress": "str",
    "Disabled": "bool",
    "LastLoginDate": "date",
}
RECORDS = [
    {
        "ObjectID": 1,
        "UserName": "ann.lee@example.com",
        "EmailAddress": "Ann.Lee@Example.com",
        "Disabled": False,
        "LastLoginDate": "2025-05-20T10:00:00.000Z",
    },
    {
        "ObjectID": 2,
        "UserName": "bob.ray@example.org",
        "EmailAddress": None,
        "Disabled": True,
        "LastLoginDate": None,
    },
    {
        "ObjectID": 3,
        "UserName": "cy.dunn@example.com",
        "EmailAddress": "",
        "Disabled": False,
        "LastLoginDate": "2024-12-31T23:59:59.999Z",
    },
]


def ids(query: str) -> list[int]:
    predicate = compile_query(query, FIELDS, "User")
    return [r["ObjectID"] for r in RECORDS if predicate(r)]


def test_parse_shapes() -> None:
    assert parse_query("(Disabled = true)") == Comparison("Disabled", "=", "true", False)
    assert parse_query('(UserName contains "a b")') == Comparison(
        "UserName", "contains", "a b", True
    )
    node = parse_query("((Disabled = true) OR ((ObjectID > 1) AND (ObjectID <= 3)))")
    assert isinstance(node, Logical) and node.op == "OR"
    assert isinstance(node.right, Logical) and node.right.op == "AND"
    assert parse_query("( ( Disabled = true )  and  ( ObjectID != 2 ) )") == Logical(
        "AND",
        Comparison("Disabled", "=", "true", False),
        Comparison("ObjectID", "!=", "2", False),
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("(ObjectID = 2)", [2]),
        ("(ObjectID != 2)", [1, 3]),
        ("(ObjectID > 1)", [2, 3]),
        ("(ObjectID < 2)", [1]),
        ("(ObjectID >= 2)", [2, 3]),
        ("(ObjectID <= 2)", [1, 2]),
        ("(Disabled = true)", [2]),
        ("(Disabled = FALSE)", [1, 3]),
        ("(Disabled != true)", [1, 3]),
        ('(UserName = "ANN.LEE@example.com")', [1]),
        ("(UserName = ann.lee@example.com)", [1]),
        ("(UserName contains example.com)", [1, 3]),
        ('(UserName !contains ".com")', [2]),
        ("(EmailAddress = null)", [2, 3]),
        ("(EmailAddress != null)", [1]),
        ("(LastLoginDate = null)", [2]),
        ('(LastLoginDate > "2025-01-01")', [1]),
        ("(LastLoginDate < 2025-01-01T00:00:00Z)", [3]),
        ('(LastLoginDate >= "2024-12-31T23:59:59.999Z")', [1, 3]),
        ("(LastLoginDate != null)", [1, 3]),
        ("(username = cy.dunn@example.com)", [3]),
        ("(OBJECTID = 3)", [3]),
        ("((Disabled = true) OR (Disabled = false))", [1, 2, 3]),
        ("((Disabled = false) AND (ObjectID > 1))", [3]),
        ("(((Disabled = false) AND (ObjectID > 1)) OR (ObjectID = 2))", [2, 3]),
        ("((Disabled = false) AND ((ObjectID = 1) OR (LastLoginDate < 2025-01-01)))", [1, 3]),
        ("((ObjectID = 1))", [1]),
    ],
)
def test_operators_and_nesting(query: str, expected: list[int]) -> None:
    assert ids(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        "",
        "Disabled = true",
        "(Disabled = true",
        "(Disabled = true))",
        "(Disabled true)",
        "(Disabled ~ true)",
        "(Disabled =)",
        "((Disabled = true) AND (ObjectID = 1) AND (ObjectID = 2))",
        "((Disabled = true) XOR (ObjectID = 1))",
        "(Disabled = true) AND (ObjectID = 1)",
        '(UserName = "unterminated)',
    ],
)
def test_syntax_errors(query: str) -> None:
    with pytest.raises(QueryError, match=r"^Could not parse: "):
        parse_query(query)


@pytest.mark.parametrize(
    "query",
    [
        "(Nickname = bob)",
        "(Disabled > true)",
        "(Disabled = maybe)",
        "(ObjectID = abc)",
        "(ObjectID contains 1)",
        '(LastLoginDate > "last tuesday")',
        "(LastLoginDate > null)",
    ],
)
def test_semantic_errors(query: str) -> None:
    with pytest.raises(QueryError, match=r"^Could not parse: "):
        compile_query(query, FIELDS, "User")


def test_unknown_attribute_message_names_it() -> None:
    with pytest.raises(QueryError, match='"Nickname" on type User'):
        compile_query("(Nickname = bob)", FIELDS, "User")


def test_format_date() -> None:
    value = datetime(2016, 5, 18, 3, 59, 59, 123456, tzinfo=UTC)
    assert format_date(value) == "2016-05-18T03:59:59.123Z"
