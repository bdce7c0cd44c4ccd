"""Custom specs (issue 15): map keys match without regard to case, spaces, hyphens or
underscores; a present admin or active value the map does not list is never guessed; `gone`
is a matcher whose safe default needs the answer to name the account. Against the Acme sandbox
over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shelfware.connectors.base import AccountRef, ConnectorSettings, ReclaimOutcome
from shelfware.connectors.custom.spec import GoneSpec, SpecError, parse_spec
from shelfware.connectors.registry import build_connector
from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.acme import acme_member_id
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread

from ...conftest import NOW

ACME = Path(__file__).resolve().parents[3] / "examples" / "acme.yaml"


def acme_spec(**changes: Any) -> dict[str, Any]:
    spec = yaml.safe_load(ACME.read_text())
    for where, value in changes.items():
        here = spec
        *parents, last = where.split("__")
        for name in parents:
            here = here[name]
        here[last] = value
    return spec


@pytest.fixture
def acme() -> Iterator[tuple[Any, Any, str]]:
    app, org = SANDBOXES["acme"](60, 5, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        yield app, org, server.url


def connect(url: str, key: str, spec: dict[str, Any]) -> Any:
    text = yaml.safe_dump(spec)
    return build_connector(
        "custom", ConnectorSettings(url=url, secrets={"api_key": key}, options={"spec": text})
    )


def test_gone_is_a_matcher_and_the_old_status_list_reads_as_its_safe_default() -> None:
    old = parse_spec(yaml.safe_dump(acme_spec(streams__reclaim__gone=[404, 410])))
    assert old.streams.reclaim is not None
    assert old.streams.reclaim.gone == GoneSpec(status=[404, 410])
    assert old.streams.reclaim.gone.names == "{account.external_id}"
    for bad, message in (
        ({"status": [404], "names": "Not Found"}, "names must contain the account"),
        ({"status": [404], "names": "{config.x} gone"}, "names must contain the account"),
        ({"status": [404], "path": "$..x"}, "gone.path"),
    ):
        with pytest.raises(SpecError, match=message):
            parse_spec(yaml.safe_dump(acme_spec(streams__reclaim__gone=bad)))


async def test_the_default_gone_matcher_needs_the_account_named_not_a_path(
    acme: tuple[Any, Any, str],
) -> None:
    app, org, url = acme
    spec = acme_spec(streams__reclaim__gone=[404])  # the safe default matcher
    connector = connect(url, org.api_key, spec)
    try:  # Acme's own answer: "no member 'mbr_...'"
        gone = await connector.reclaim(AccountRef("mbr_999999999"))
    finally:
        await connector.aclose()
    assert gone.outcome is ReclaimOutcome.ALREADY_GONE, gone
    # a wrong base path: Acme's route 404 "no such endpoint: DELETE /x/v1/members/mbr_..."
    victim = acme_member_id(next(u for u in org.users[1:] if not u.disabled))
    connector = connect(url + "/x", org.api_key, spec)
    try:
        failed = await connector.reclaim(AccountRef(victim))
    finally:
        await connector.aclose()
    assert failed.outcome is ReclaimOutcome.FAILED
    assert "without naming the object" in failed.message
    assert app.state.sandbox.find(victim) is not None


async def test_map_keys_in_any_spelling_and_unlisted_admin_values_are_never_guessed(
    acme: tuple[Any, Any, str],
) -> None:
    _, org, url = acme
    seat_types = {org.seat_type(u) for u in org.users}
    assert {"pro", "viewer"} <= seat_types
    spec = acme_spec(
        streams__accounts__fields__admin={
            "path": "$.seat_type",
            "map": {"PRO": False, "Standard": False},  # viewer not listed
            "default": False,  # for absent values only: never for a listed-less one
        },
        streams__accounts__fields__edition={
            "path": "$.seat_type",
            "map": {"PRO": "Pro", "STANDARD": "Standard", "Viewer": "Viewer"},
        },
    )
    connector = connect(url, org.api_key, spec)
    try:
        report = await connector.validate()
        records = [r async for page in connector.accounts() for r in page]
    finally:
        await connector.aclose()
    assert report.ok
    assert report.facts["unknown_values"] == ["unknown admin value 'viewer'"]
    by_type = {acme_member_id(u): org.seat_type(u) for u in org.users}
    for record in records:
        kind = by_type[record.external_id]
        assert record.edition == {"pro": "Pro", "standard": "Standard", "viewer": "Viewer"}[kind]
        if kind == "viewer":
            assert record.admin and record.unrecognised == "unknown admin value 'viewer'"
        else:
            assert not record.admin and record.unrecognised is None
