"""Vendor names (roles, statuses) read in one place per connector: `NameTable`.

Vendors spell the same role several ways: "Account Admin" in the web app, `ACCOUNT_ADMIN` as a
GraphQL enum, "account-admin" in an export. A `NameTable` maps a vendor's names to what they
mean for us (`Meaning`: admin or not, the edition the seat is of, whether the account holds a
seat), matching a name without regard to case, spaces, hyphens or underscores.

A name the table does not know is never guessed: `read` answers `None` and the connector
decides what is safe (the built-in connectors mark the account `unrecognised`: it still counts
as holding a seat, as an admin, and evaluation never makes it a removal candidate), and
`unknown` describes it for validation and the sync's run record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shelfware.connectors.base import CheckResult

_IGNORED = re.compile(r"[\s_\-]+")


def normalise_name(value: str) -> str:
    """A vendor name as the tables compare it: case folded, no spaces, hyphens or underscores
    (`ACCOUNT_ADMIN`, "Account Admin" and "account-admin" are the same name)."""
    return _IGNORED.sub("", value.casefold())


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a vendor's role or status name means for a seat."""

    admin: bool = False
    edition: str | None = None  # None: the connector's default edition
    active: bool = True  # whether an account with this name holds a seat
    canonical: str = ""  # the vendor's own spelling (e.g. Okta's DEPROVISIONED)


def _sense(meaning: Meaning) -> tuple[bool, str | None, bool]:
    return meaning.admin, meaning.edition, meaning.active


@dataclass(frozen=True, slots=True)
class NameTable:
    """A connector's vendor names of one kind (`what`: "role", "status") and their meaning."""

    what: str
    meanings: Mapping[str, Meaning]  # normalised name -> meaning
    exact: Mapping[str, Meaning] = field(default_factory=dict)  # as declared (fast path)

    @classmethod
    def of(cls, what: str, entries: Mapping[str, Meaning]) -> NameTable:
        """A table from the vendor's names as documented; two names that normalise alike but
        mean different things are refused (a table must not depend on the spelling)."""
        table: dict[str, Meaning] = {}
        exact: dict[str, Meaning] = {}
        for name, meaning in entries.items():
            key = normalise_name(name)
            if not key:
                raise ValueError(f"{what} names must not be empty")
            if not meaning.canonical:
                meaning = Meaning(meaning.admin, meaning.edition, meaning.active, name)
            if key in table and _sense(table[key]) != _sense(meaning):
                raise ValueError(f"{what} names {table[key].canonical!r} and {name!r} collide")
            table.setdefault(key, meaning)
            exact[name] = table[key]
        return cls(what, table, exact)

    def extended(self, entries: Mapping[str, Meaning]) -> NameTable:
        """This table with more names (a profile's options); a name given again overrides
        the built-in meaning of the same (normalised) name."""
        merged = {normalise_name(m.canonical): (m.canonical, m) for m in self.meanings.values()}
        for name, meaning in entries.items():
            merged[normalise_name(name)] = (name, meaning)
        return NameTable.of(self.what, dict(merged.values()))

    def read(self, name: str | None) -> Meaning | None:
        """The meaning of a vendor name; None when the table does not know it (or none given)."""
        if name is None:
            return None
        found = self.exact.get(name)
        if found is not None:
            return found
        return self.meanings.get(normalise_name(name))

    def knows(self, name: str | None) -> bool:
        return self.read(name) is not None

    def unknown(self, name: str | None) -> str:
        """How an unknown name is reported (validation, the account, the run record)."""
        if name is None or not name.strip():
            return f"{self.what} missing"
        shown = name if len(name) <= 80 else name[:77] + "..."
        return f"unknown {self.what} {shown!r}"

    def unknown_in(self, names: Iterable[str | None]) -> list[str]:
        """The distinct unknown names among `names`, described, in first-seen order."""
        found: dict[str, None] = {}
        for name in names:
            if not self.knows(name):
                found.setdefault(self.unknown(name), None)
        return list(found)


def names_option(
    value: str | None, meaning: Meaning, *, what: str = "option"
) -> dict[str, Meaning]:
    """Names from a comma-separated profile option (e.g. `admin_roles=Owner,Billing Admin`),
    each with `meaning`."""
    if not value:
        return {}
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ValueError(f"{what} names no value")
    return {name: meaning for name in names}


MAX_UNRECOGNISED = 500  # the column's length


def unrecognised_text(*descriptions: str | None) -> str | None:
    """An account's unknown values (descriptions from `NameTable.unknown`) as one text, or None
    when every value was known."""
    found = [d for d in dict.fromkeys(descriptions) if d]
    if not found:
        return None
    text = "; ".join(found)
    return text if len(text) <= MAX_UNRECOGNISED else text[: MAX_UNRECOGNISED - 3] + "..."


NAMES_CHECK = "vendor names"


def names_check(unknown: list[str], read: int) -> CheckResult:
    """Validation's report of the vendor names found in the sample it read: unknown ones are
    listed (they do not fail the validation: such accounts are protected, never guessed)."""
    if not unknown:
        return CheckResult(NAMES_CHECK, True, f"every role and status known ({read} accounts read)")
    return CheckResult(
        NAMES_CHECK,
        True,
        f"{', '.join(unknown)} in the {read} accounts read: not known to the connector; such "
        "accounts count as admins holding a seat and are never removal candidates",
    )
