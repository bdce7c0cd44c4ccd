"""Reading custom specs: every mistake is named by its path; placeholders stay inside their
closed list; paths never leave the profile's host; random and hostile specs never crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelfware.connectors.custom.spec import SpecError, parse_spec, spec_json_schema
from shelfware.connectors.custom.templates import TemplateError, placeholders, render

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def base_spec() -> dict[str, Any]:
    return {
        "app": {"publisher": "Acme", "product": "Acme Cloud"},
        "auth": {"type": "api_key", "name": "X-Acme-Key"},
        "streams": {
            "accounts": {
                "request": {"path": "/v1/members", "params": {"limit": "100"}},
                "records": "$.items",
                "pagination": {"type": "cursor", "cursor": "$.meta.next_cursor", "param": "cursor"},
                "fields": {"external_id": {"path": "$.id"}},
            }
        },
    }


def with_change(path: str, value: Any) -> str:
    spec = base_spec()
    *parents, last = path.split(".")
    here = spec
    for name in parents:
        here = here[name]
    here[last] = value
    return json.dumps(spec)


def test_the_examples_and_a_minimal_spec_are_valid() -> None:
    for example in EXAMPLES.glob("*.yaml"):
        parse_spec(example.read_text())
    spec = parse_spec(json.dumps(base_spec()))
    assert spec.concurrency == 4 and spec.app.edition == "Standard"


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("streams.accounts.pagination", {"type": "scroll"}, "streams.accounts.pagination"),
        ("streams.accounts.records", "$..items", "streams.accounts.records"),
        ("streams.accounts.request.path", "https://evil.example.com/x", "request.path"),
        ("streams.accounts.request.path", "//evil.example.com/x", "request.path"),
        ("auth", {"type": "api_key", "name": "X", "key": "{env.HOME}"}, "auth.api_key.key"),
        ("auth", {"type": "bearer", "token": "{__import__('os')}"}, "auth.bearer.token"),
        ("streams.accounts.fields", {"external_id": {}}, "fields.external_id"),
        ("streams.accounts.fields", {"external_id": {"path": "$.id"}, "shoe": {}}, "shoe"),
        ("concurrency", 500, "concurrency"),
        ("app", {"publisher": "", "product": "x"}, "app.publisher"),
    ],
)
def test_a_spec_error_names_the_path_of_the_bad_field(path: str, value: Any, named: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(with_change(path, value))
    assert named in str(caught.value), str(caught.value)


def test_placeholders_of_the_wrong_kind_for_the_place_are_refused() -> None:
    spec = base_spec()
    spec["streams"]["accounts"]["request"]["params"]["token"] = "{secrets.api_key}"
    with pytest.raises(SpecError, match=r"\{secrets.api_key\} cannot be used here"):
        parse_spec(json.dumps(spec))
    spec = base_spec()
    spec["streams"]["reclaim"] = {"method": "DELETE", "path": "/v1/members/{cursor.start}"}
    with pytest.raises(SpecError, match="cannot be used here"):
        parse_spec(json.dumps(spec))


def test_unreadable_specs_say_where() -> None:
    with pytest.raises(SpecError, match="line 2"):
        parse_spec("app: {publisher: x\nauth: [")
    with pytest.raises(SpecError, match="mapping"):
        parse_spec("- just a list")
    with pytest.raises(SpecError, match="bytes"):
        parse_spec("x" * 300_000)


def test_rendering_is_inert_and_stays_in_the_path() -> None:
    values = {"account": {"external_id": "../../admin?x=1#"}, "config": {"org": "{secrets.x}"}}
    assert render("/v1/members/{account.external_id}", values, url_path=True) == (
        "/v1/members/..%2F..%2Fadmin%3Fx%3D1%23"
    )
    # a value that looks like a placeholder is text, never rendered again
    assert render("org={config.org}", values) == "org={secrets.x}"
    assert render("{{literal}}", values) == "{literal}"
    dots = {"account": {"external_id": ".."}}
    assert render("/v1/members/{account.external_id}", dots, url_path=True) == "/v1/members/%2E%2E"
    with pytest.raises(TemplateError):
        placeholders("{config}")


def test_the_json_schema_is_published() -> None:
    schema = spec_json_schema()
    assert schema["title"] == "shelfware custom integration spec"
    assert {"app", "auth", "streams"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_json)
def test_random_documents_never_crash(document: Any) -> None:
    try:
        parse_spec(yaml.safe_dump(document) if not isinstance(document, str) else document)
    except SpecError as error:
        assert str(error)


@settings(max_examples=200, deadline=None)
@given(
    where=st.sampled_from(
        [
            "streams.accounts.request.path",
            "streams.accounts.records",
            "streams.accounts.pagination",
            "auth",
            "streams.accounts.fields",
            "concurrency",
        ]
    ),
    value=_json,
)
def test_hostile_values_anywhere_give_a_clear_error_or_a_safe_spec(where: str, value: Any) -> None:
    try:
        spec = parse_spec(with_change(where, value))
    except SpecError as error:
        assert "the spec" in str(error)
        return
    assert spec.streams.accounts.request.path.startswith("/")
    assert "://" not in spec.streams.accounts.request.path


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(max_size=60),
    template=st.sampled_from(
        ["/v1/members/{account.external_id}", "/x/{config.org}/users", "/{account.username}"]
    ),
)
def test_no_value_takes_a_request_off_the_base_host(value: str, template: str) -> None:
    """Whatever an account id or a config value holds ("//evil", "@host", "../", "?x#"), the
    rendered path joined to the profile's URL stays on its host and under its path."""
    import httpx

    values = {"account": {"external_id": value, "username": value}, "config": {"org": value}}
    rendered = render(template, values, url_path=True)
    base = httpx.URL("https://api.acme.example/base/")
    url = httpx.URL(str(base).rstrip("/") + rendered)
    assert url.host == "api.acme.example" and url.scheme == "https"
    assert url.path.startswith("/base/")
