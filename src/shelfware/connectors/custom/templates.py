"""Placeholders in a custom spec: `{config.x}`, `{secrets.x}`, `{cursor.start}`,
`{account.external_id}`, `{target.edition}` (a downgrade's edition). Values are substituted
as text, never evaluated; a placeholder naming
anything else is rejected when the spec is read. `{{` and `}}` stand for literal braces."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shelfware.connectors.toolkit.stream import path_segment

NAMESPACES: dict[str, frozenset[str] | None] = {
    "config": None,  # any profile option
    "secrets": None,  # any secret of the profile's credential
    "cursor": frozenset({"start", "end"}),
    "account": frozenset({"external_id", "username", "email"}),
    "target": frozenset({"edition"}),  # the edition a downgrade moves the account to
}
KNOWN = ", ".join(
    f"{{{ns}.*}}" if names is None else ", ".join(f"{{{ns}.{n}}}" for n in sorted(names))
    for ns, names in NAMESPACES.items()
)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^([a-z]+)\.([A-Za-z_][A-Za-z0-9_]{0,63})$")


class TemplateError(ValueError):
    """A template names a placeholder outside the closed list."""


def placeholders(template: str) -> list[tuple[str, str]]:
    """The (namespace, name) pairs a template uses; raises `TemplateError` for a bad one."""
    found: list[tuple[str, str]] = []
    for match in _PLACEHOLDER.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateError(f"unbalanced brace in {template!r} (write {{{{ or }}}})")
        parsed = _NAME.match(match.group(1).strip())
        if parsed is None:
            raise TemplateError(
                f"placeholder {token!r} is not of the form {{namespace.name}} "
                f"(namespaces: {', '.join(NAMESPACES)})"
            )
        namespace, name = parsed.groups()
        allowed = NAMESPACES.get(namespace, frozenset())
        if namespace not in NAMESPACES or (allowed is not None and name not in allowed):
            raise TemplateError(
                f"placeholder {token!r} is not a known placeholder (known: "
                + ", ".join(
                    f"{{{ns}.*}}"
                    if names is None
                    else ", ".join(f"{{{ns}.{n}}}" for n in sorted(names))
                    for ns, names in NAMESPACES.items()
                )
                + ")"
            )
        found.append((namespace, name))
    return found


def render(
    template: str, values: Mapping[str, Mapping[str, Any]], *, url_path: bool = False
) -> str:
    """The template with its placeholders replaced; values inserted into a URL path are
    percent-encoded, so a value can never add a path segment or reach another host."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        namespace, _, name = match.group(1).strip().partition(".")
        value = values.get(namespace, {}).get(name)
        if value is None:
            raise TemplateError(f"no value for {token} (set it in the profile)")
        text = str(value)
        return path_segment(text) if url_path else text

    return _PLACEHOLDER.sub(substitute, template)
