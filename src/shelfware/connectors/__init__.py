"""App connectors: the contract (base), the registry, and the built-in kinds.

The built-in connector modules are listed in `BUILTIN_CONNECTOR_MODULES`; the registry imports
them (so each registers its kind) the first time a kind is looked up, via
`load_builtin_connectors()`. They are not imported here at package import time because the
HTTP kit imports `connectors.base`, and the connectors import the kit: an eager import here
would make `import shelfware.kit.http` circular.
"""

from __future__ import annotations

import importlib

# Add a module here when adding a built-in connector kind.
BUILTIN_CONNECTOR_MODULES: tuple[str, ...] = (
    "shelfware.connectors.rally",
    "shelfware.connectors.asana",
    "shelfware.connectors.scim",
    "shelfware.connectors.okta",
    "shelfware.connectors.roadmunk",
    "shelfware.connectors.microsoft365",
    "shelfware.connectors.google_workspace",
    "shelfware.connectors.custom.connector",
)


def load_builtin_connectors() -> None:
    """Import every built-in connector module, so each registers its kind (idempotent)."""
    for module in BUILTIN_CONNECTOR_MODULES:
        importlib.import_module(module)


__all__ = ["BUILTIN_CONNECTOR_MODULES", "load_builtin_connectors"]
