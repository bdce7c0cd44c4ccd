"""`GoneWhen`: whether a vendor's "not found" answer is about the object asked for.

A 404 is only "gone" when the vendor's own answer names the object: Asana's
`{"errors": [{"message": "user: Unknown object: 123"}]}`, Okta's `E0000007` "Not found: Resource
not found: 00u1 (AppUser)", a SCIM error naming the user. A 404 for an unknown route, from a
proxy or load balancer (an HTML page, an empty body, another JSON shape), says nothing about the
account: concluding "gone" from it would close a candidate whose seat is still held. Such an
answer is an error (`NotGone`), so the caller reports the app unreachable and changes nothing.

A connector declares its vendor's shape once (where the messages are, the phrase that names the
object with `{placeholders}` for its ids, the fields the shape always has) and asks
`gone(response, what, id=...)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shelfware.connectors.base import ConnectorError
from shelfware.connectors.toolkit.selectors import MISSING, JsonPath

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# An id must stand alone: not part of a longer id, and not inside a path or URL that a router
# echoes ("no route for /api/v1/users/123" does not name user 123).
_BEFORE = r"(?<![\w/.\-])"
_AFTER = r"(?![\w/\-])"
MAX_SHOWN = 120
NOT_FOUND = frozenset({404, 410})


class NotGone(ConnectorError):
    """A not-found status whose answer does not name the object (an unknown route, a proxy)."""


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _matches(found: Any, allowed: frozenset[str]) -> bool:
    values = found if isinstance(found, list) else [found]
    return any(v is not MISSING and v is not None and str(v) in allowed for v in values)


@dataclass(frozen=True, slots=True)
class GoneWhen:
    """When an answer with one of `status` says the object does not exist."""

    names: tuple[str, ...]  # phrases naming the object, e.g. "Unknown object: {id}"
    messages: JsonPath | None = None  # where the vendor's messages are; None: any text
    status: frozenset[int] = frozenset({404})
    # fields the vendor's not-found shape always has, with their possible values
    requires: tuple[tuple[JsonPath, frozenset[str]], ...] = ()

    @classmethod
    def at(
        cls,
        messages: str | None,
        *names: str,
        status: Iterable[int] = (404,),
        requires: Mapping[str, Iterable[str]] | None = None,
    ) -> GoneWhen:
        status = frozenset(status)
        if not names:
            raise ValueError("GoneWhen needs at least one phrase naming the object")
        for name in names:
            # a not-found status may come from a router or proxy: its phrase must name the
            # object; another status (Rally's 200 with an envelope error) is the app's answer
            # to the request for that object
            if status & NOT_FOUND and not _PLACEHOLDER.search(name):
                raise ValueError(f"{name!r} names no object: use a placeholder such as {{id}}")
        return cls(
            tuple(names),
            JsonPath.parse(messages) if messages else None,
            status,
            tuple((JsonPath.parse(k), frozenset(v)) for k, v in (requires or {}).items()),
        )

    def _pattern(self, name: str, ids: Mapping[str, str]) -> re.Pattern[str] | None:
        parts: list[str] = []
        last = 0
        for match in _PLACEHOLDER.finditer(name):
            value = ids.get(match.group(1))
            if not value:
                return None  # the phrase needs an id the caller does not have
            parts.append(re.escape(name[last : match.start()]))
            parts.append(_BEFORE + re.escape(value) + _AFTER)
            last = match.end()
        parts.append(re.escape(name[last:]))
        return re.compile("".join(parts), re.IGNORECASE)

    def says_gone(self, response: httpx.Response, **ids: str) -> bool:
        """Whether the answer has one of `status` and, in the vendor's shape, names the object."""
        if response.status_code not in self.status:
            return False
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            return False  # an HTML page, an empty body: not the vendor speaking
        if not isinstance(body, Mapping | list):
            return False
        for where, allowed in self.requires:
            if not _matches(where.find(body), allowed):
                return False
        found = body if self.messages is None else self.messages.find(body)
        texts = _texts(found) if found is not MISSING else []
        patterns = [p for p in (self._pattern(n, ids) for n in self.names) if p is not None]
        return any(p.search(text) for p in patterns for text in texts)

    def gone(self, response: httpx.Response, what: str, **ids: str) -> bool:
        """True when the answer says the object is gone; False for a status this matcher is
        not about; raises `NotGone` for one of `status` that does not name the object."""
        if response.status_code not in self.status:
            return False
        if self.says_gone(response, **ids):
            return True
        raise NotGone(
            f"{what}: the app answered {response.status_code} without naming the object "
            f"(an unknown route or a proxy?): {shown(response)}"
        )


def shown(response: httpx.Response) -> str:
    """The start of an answer's body, on one line, for an error message."""
    text = " ".join(response.content[:400].decode("utf-8", "replace").split())
    if not text:
        return "(empty body)"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
