"""Connector kinds: built-in ones register with a decorator, third-party ones via entry points.

A connector class is registered under its `kind`:

    @register_connector
    class RallyConnector:
        kind = "rally"
        ...

Third-party packages add kinds through the entry-point group `shelfware.connectors`, the entry
point's name being the kind and its object the class, e.g. in their pyproject.toml:

    [project.entry-points."shelfware.connectors"]
    acme = "acme_shelfware.connector:AcmeConnector"

Entry points are loaded lazily, the first time their kind is asked for.

Every registered class is constructed as
`cls(settings, client=None, *, policy=None, stats=None)` (see `build_connector`).
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from shelfware.connectors.base import (
    Connector,
    ConnectorError,
    ConnectorSettings,
    RequestStats,
)

if TYPE_CHECKING:
    from shelfware.kit.http import HttpPolicy

ENTRY_POINT_GROUP = "shelfware.connectors"

C = TypeVar("C", bound=type)

_registry: dict[str, type] = {}
_lock = threading.RLock()


class UnknownConnectorKind(ConnectorError, LookupError):
    """No connector is registered under that kind."""

    def __init__(self, kind: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(f"unknown connector kind {kind!r}; known kinds: {listed}")
        self.kind = kind
        self.known = known


class ConnectorRegistrationError(ConnectorError):
    """A connector class could not be registered or loaded."""


def register_connector(cls: C) -> C:
    """Class decorator: register `cls` under `cls.kind`; re-registering it is a no-op."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ConnectorRegistrationError(f"{cls.__qualname__} has no 'kind' to register under")
    with _lock:
        existing = _registry.get(kind)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ConnectorRegistrationError(
                f"connector kind {kind!r} is already registered by {_qualified(existing)}; "
                f"cannot register {_qualified(cls)}"
            )
        _registry[kind] = cls
    return cls


def connector_class(kind: str) -> type[Connector]:
    """The class registered for `kind`, loading a third-party entry point if needed."""
    _ensure_builtins()
    with _lock:
        found = _registry.get(kind)
    if found is not None:
        # Registered classes are connectors by contract; the registry only checks `kind`.
        return cast("type[Connector]", found)
    for entry_point in _entry_points():
        if entry_point.name == kind:
            return cast("type[Connector]", _load_entry_point(entry_point))
    raise UnknownConnectorKind(kind, connector_kinds())


def connector_kinds() -> list[str]:
    """Every known kind, sorted: registered ones and those third-party entry points offer."""
    _ensure_builtins()
    with _lock:
        kinds = set(_registry)
    kinds.update(entry_point.name for entry_point in _entry_points())
    return sorted(kinds)


def build_connector(
    kind: str,
    settings: ConnectorSettings,
    *,
    policy: HttpPolicy | None = None,
    stats: RequestStats | None = None,
) -> Connector:
    """A connector of `kind`, built from a profile's settings."""
    # The Protocol declares no constructor; every connector takes these arguments (see above).
    cls: Callable[..., Connector] = connector_class(kind)
    connector: Connector = cls(settings, policy=policy, stats=stats)
    return connector


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _ensure_builtins() -> None:
    from shelfware.connectors import load_builtin_connectors

    load_builtin_connectors()


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(entry_point: importlib.metadata.EntryPoint) -> type:
    try:
        loaded = entry_point.load()
    except Exception as error:
        raise ConnectorRegistrationError(
            f"cannot load connector {entry_point.name!r} from entry point "
            f"{entry_point.value!r}: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(loaded, type):
        raise ConnectorRegistrationError(
            f"entry point {entry_point.name!r} ({entry_point.value}) is not a class"
        )
    kind = getattr(loaded, "kind", None)
    if kind != entry_point.name:
        raise ConnectorRegistrationError(
            f"entry point {entry_point.name!r} ({entry_point.value}) loads a connector of "
            f"kind {kind!r}; the entry point name must be the kind"
        )
    return register_connector(loaded)
