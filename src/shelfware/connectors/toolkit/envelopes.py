"""Error envelopes: errors an API reports inside a successful (200) response.

Rally answers a bad query with 200 and `QueryResult.Errors: ["..."]`; GraphQL servers answer
with 200 and `errors: [{"message": ...}]`. An `ErrorEnvelope` names where such errors live; a
non-empty value there fails the page with the messages it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shelfware.connectors.toolkit.selectors import MISSING, JsonPath

MESSAGE_KEYS: tuple[str, ...] = ("message", "detail", "errorSummary", "error", "msg")
MAX_MESSAGES = 5


@dataclass(frozen=True, slots=True)
class ErrorEnvelope:
    """Errors at `where` in the body: a string, a list of strings, or objects with a message."""

    where: JsonPath
    message_keys: tuple[str, ...] = MESSAGE_KEYS
    # error codes meaning "the credential was rejected" (GraphQL servers answer 200 with them)
    auth_codes: frozenset[str] = frozenset()
    code_path: JsonPath | None = None  # where an error object holds its code

    @classmethod
    def at(
        cls, text: str, *, auth_codes: frozenset[str] = frozenset(), code_path: str | None = None
    ) -> ErrorEnvelope:
        return cls(
            JsonPath.parse(text),
            auth_codes=auth_codes,
            code_path=JsonPath.parse(code_path) if code_path else None,
        )

    def rejects_credential(self, body: Any) -> bool:
        """Whether the reported errors say the credential was rejected."""
        if not self.auth_codes or self.code_path is None:
            return False
        found = self.where.find(body)
        items = found if isinstance(found, list) else [found]
        return any(self.code_path.find(item) in self.auth_codes for item in items)

    def errors(self, body: Any) -> list[str]:
        """The error messages the body reports; empty when it reports none."""
        found = self.where.find(body)
        if found is MISSING or found is None or found == [] or found == "" or found == {}:
            return []
        items = found if isinstance(found, list) else [found]
        return [self._message(item) for item in items[:MAX_MESSAGES]]

    def _message(self, item: Any) -> str:
        if isinstance(item, Mapping):
            for key in self.message_keys:
                value = item.get(key)
                if isinstance(value, str) and value:
                    return value
        return str(item)
