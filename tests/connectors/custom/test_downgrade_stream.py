"""A custom spec's `downgrade` stream (a request like `reclaim`, naming `{target.edition}`),
against the Acme sandbox over real HTTP: the member's seat type changes, the spec's
capabilities say it can downgrade, a placeholder outside the closed list is refused."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shelfware.connectors.base import AccountRef, ReclaimOutcome
from shelfware.connectors.custom.connector import capabilities_of
from shelfware.connectors.custom.spec import SpecError, parse_spec
from shelfware.sandbox.acme import acme_member_id
from tests.connectors.custom.test_names_and_gone import acme, acme_spec, connect

__all__ = ["acme"]

DOWNGRADE = {
    "method": "PATCH",
    "path": "/v1/members/{account.external_id}",
    "body": {"seat_type": "{target.edition}"},
    "success": [200],
    "editions": {"Pro": "pro", "Standard": "standard", "Viewer": "viewer"},
}


async def test_the_downgrade_stream_changes_the_seat_type(acme: tuple[Any, Any, str]) -> None:
    _, org, url = acme
    spec = acme_spec(streams__downgrade=DOWNGRADE)
    assert capabilities_of(parse_spec(yaml.safe_dump(spec))).downgrade
    assert not capabilities_of(parse_spec(yaml.safe_dump(acme_spec()))).downgrade
    user = next(u for u in org.users[1:] if not u.disabled and org.seat_type(u) == "pro")
    member = acme_member_id(user)
    connector = connect(url, org.api_key, spec)
    try:
        result = await connector.downgrade(AccountRef(member), "Viewer")
        assert result.outcome is ReclaimOutcome.RECLAIMED, result
        assert org.seat_type(user) == "viewer"
        current = await connector.current(AccountRef(member))
        assert current is not None and current.edition == "Viewer" and current.active
        gone = await connector.downgrade(AccountRef("mbr_999999999"), "Viewer")
        assert gone.outcome is ReclaimOutcome.ALREADY_GONE
        refused = await connector.downgrade(AccountRef(member), "Gold")  # not an Acme seat type
        assert refused.outcome is ReclaimOutcome.FAILED and "400" in refused.message
    finally:
        await connector.aclose()


def test_target_placeholders_only_in_the_downgrade_stream() -> None:
    bad = acme_spec(streams__reclaim__path="/v1/members/{target.edition}")
    with pytest.raises(SpecError, match=r"\{target\.edition\}"):
        parse_spec(yaml.safe_dump(bad))
    wrong = acme_spec(streams__downgrade={**DOWNGRADE, "path": "/v1/{cursor.start}"})
    with pytest.raises(SpecError, match=r"\{cursor\.start\}"):
        parse_spec(yaml.safe_dump(wrong))
