"""Every connector connects to public addresses only unless SHELFWARE_ALLOW_PRIVATE_URLS is on:
each one's sandbox (real HTTP on loopback, the contract test's harnesses) is refused, and
reached again once the setting is on."""

from __future__ import annotations

import pytest

from shelfware.connectors.base import ConnectorError
from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from tests.connectors.test_contract import Harness, connect, harness

__all__ = ["harness"]


async def test_each_connector_is_refused_on_loopback_without_the_setting(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    connector = connect(harness.settings, harness.kind)
    try:
        try:
            report = await connector.validate()
        except ConnectorError as error:
            said = str(error)
        else:
            assert not report.ok, report
            said = " ".join(check.detail for check in report.checks)
        assert "loopback" in said and ALLOW_PRIVATE_ENV in said, said
        with pytest.raises(ConnectorError, match="loopback"):
            async for _ in connector.accounts():
                pass
    finally:
        await connector.aclose()
    assert harness.writes() == 0

    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
    connector = connect(harness.settings, harness.kind)
    try:
        assert (await connector.validate()).ok
    finally:
        await connector.aclose()
