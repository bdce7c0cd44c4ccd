"""The connector registry: built-in kinds, lookups, third-party entry points."""

from __future__ import annotations

import importlib.metadata
from typing import ClassVar

import pytest

from shelfware.connectors import registry
from shelfware.connectors.base import ConnectorError, ConnectorSettings, RequestStats
from shelfware.connectors.rally import RallyConnector
from shelfware.connectors.registry import (
    ENTRY_POINT_GROUP,
    ConnectorRegistrationError,
    UnknownConnectorKind,
    build_connector,
    connector_class,
    connector_kinds,
    register_connector,
)
from shelfware.kit.http import HttpPolicy


class AcmeConnector:
    """A stand-in third-party connector, loaded through an entry point."""

    kind: ClassVar[str] = "acme-test"

    def __init__(
        self,
        settings: ConnectorSettings,
        client: object = None,
        *,
        policy: HttpPolicy | None = None,
        stats: RequestStats | None = None,
    ) -> None:
        self.settings = settings
        self.stats = stats or RequestStats()


class MislabelledConnector:
    kind: ClassVar[str] = "something-else"


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        importlib.metadata.EntryPoint(
            name="acme-test", value=f"{__name__}:AcmeConnector", group=ENTRY_POINT_GROUP
        ),
        importlib.metadata.EntryPoint(
            name="broken-test", value="no_such_module_xyz:Nope", group=ENTRY_POINT_GROUP
        ),
        importlib.metadata.EntryPoint(
            name="mislabelled-test",
            value=f"{__name__}:MislabelledConnector",
            group=ENTRY_POINT_GROUP,
        ),
    ]
    monkeypatch.setattr(registry, "_entry_points", lambda: list(points))
    yield
    for kind in ("acme-test",):
        registry._registry.pop(kind, None)


def test_builtin_kinds_are_registered() -> None:
    assert "rally" in connector_kinds()
    assert connector_class("rally") is RallyConnector


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(UnknownConnectorKind) as caught:
        connector_class("nope")
    assert isinstance(caught.value, ConnectorError)
    assert isinstance(caught.value, LookupError)
    assert "'nope'" in str(caught.value) and "rally" in str(caught.value)


def test_build_connector_passes_policy_and_stats() -> None:
    stats = RequestStats()
    settings = ConnectorSettings(url="", secrets={"api_key": "_k"}, options={})
    connector = build_connector(
        "rally", settings, policy=HttpPolicy(max_concurrency=5), stats=stats
    )
    assert isinstance(connector, RallyConnector)
    assert connector.stats is stats
    assert connector.concurrency == 5


def test_register_rejects_a_second_class_for_a_kind() -> None:
    class Impostor:
        kind: ClassVar[str] = "rally"

    with pytest.raises(ConnectorRegistrationError, match="already registered"):
        register_connector(Impostor)
    assert register_connector(RallyConnector) is RallyConnector  # idempotent

    class Nameless:
        pass

    with pytest.raises(ConnectorRegistrationError, match="no 'kind'"):
        register_connector(Nameless)


@pytest.mark.usefixtures("fake_entry_points")
def test_entry_point_kinds_load_lazily() -> None:
    kinds = connector_kinds()
    assert {"rally", "acme-test", "broken-test", "mislabelled-test"} <= set(kinds)
    assert "acme-test" not in registry._registry  # listed, not loaded
    assert connector_class("acme-test") is AcmeConnector
    connector = build_connector("acme-test", ConnectorSettings(url="https://acme.example"))
    assert isinstance(connector, AcmeConnector)
    with pytest.raises(ConnectorRegistrationError, match="no_such_module_xyz"):
        connector_class("broken-test")
    with pytest.raises(ConnectorRegistrationError, match="must be the kind"):
        connector_class("mislabelled-test")
