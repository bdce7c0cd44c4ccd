"""kit.addresses: exactly one address out of untrusted text, or a refusal that never echoes
the text (its bad characters are named by code point)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfware.kit.addresses import EmailAddressError, is_email, parse_email, parse_emails


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada.Lovelace@Example.COM", "Ada.Lovelace@example.com"),  # the domain is lower-cased
        ("boss@corp.test", "boss@corp.test"),  # test organisations
        ("root@intranet", "root@intranet"),  # a dotless intranet domain
        ("bob@xn--bcher-kva.example", "bob@bücher.example"),
    ],
)
def test_one_address(text: str, address: str) -> None:
    assert parse_email(text) == address and is_email(text)


@pytest.mark.parametrize(
    "text",
    [
        "a@x.com\r\nBcc: evil@x.com",
        "a@x.com\n",
        "a@x.com, evil@x.com",
        "a@x.com;evil@x.com",
        "a@x.com evil@x.com",
        "<evil@x.com>",
        "Ada <a@x.com>",
        '"evil@x.com"@x.com',
        "a@[127.0.0.1]",
        " a@x.com",
        "a\u202e@x.com",  # a bidi override
        "a@b.local",
        "a@localhost",
        "@x.com",
        "a@",
        "",
        "a" * 250 + "@x.com",
        None,
        42,
    ],
)
def test_anything_else_is_refused_without_echo(text: object) -> None:
    with pytest.raises(EmailAddressError) as refused:
        parse_email(text)
    assert "evil" not in str(refused.value) and "\n" not in str(refused.value)
    assert not is_email(text)


def test_lists_keep_the_valid_ones_once_and_say_why_for_the_others() -> None:
    valid, refused = parse_emails(["a@x.com", "A@X.com", "<b@x.com>", "c@x.com"])
    assert valid == ["a@x.com", "A@x.com", "c@x.com"]  # the local part keeps its case
    assert len(refused) == 1 and "angle brackets" in refused[0]


@given(st.text(max_size=80))
def test_whatever_comes_back_is_one_header_safe_address(text: str) -> None:
    try:
        address = parse_email(text)
    except EmailAddressError:
        return
    assert address.count("@") == 1
    assert not any(ch in address for ch in '\r\n,;<>"() \t')
