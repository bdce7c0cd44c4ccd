"""Fault injection for the sandboxes: the ``--faults`` option.

Syntax: comma-separated ``key=value`` pairs, e.g. ``latency_ms=50,error_rate=0.05,seed=7``.
Random faults are drawn from a hash of (seed, kind, request, how many times that request was
seen), so they are deterministic for a given seed whatever the interleaving of concurrent
requests, and a retried request gets a fresh draw.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class FaultSpec:
    """Faults a sandbox injects; the defaults inject none."""

    latency_ms: float = 0.0  # extra latency on every request
    error_rate: float = 0.0  # share of requests answered 500/503
    timeout_rate: float = 0.0  # share of requests that hang for hang_s seconds
    hang_s: float = 30.0
    # Pages are 1-based pages of the user list (GET /user with a query): (start - 1) // size + 1.
    fail_page: int | None = None  # this page always answers 500
    envelope_error_page: int | None = None  # this page answers 200 with QueryResult.Errors
    fail_reclaim: int | None = None  # POST to this ObjectID answers 500
    seed: int = 0


_RATES = {"error_rate", "timeout_rate"}
_POSITIVE_INTS = {"fail_page", "envelope_error_page", "fail_reclaim"}


def _convert(key: str, value: str) -> float | int:
    try:
        number: float | int = int(value) if key in _POSITIVE_INTS | {"seed"} else float(value)
    except ValueError:
        raise ValueError(f"fault {key!r}: bad value {value!r}") from None
    bad = (
        (key in _RATES and not 0 <= number <= 1)
        or (key in _POSITIVE_INTS and number < 1)
        or (key in {"latency_ms", "hang_s"} and not 0 <= number < float("inf"))
    )
    if bad:
        raise ValueError(f"fault {key!r}: value {value!r} out of range")
    return number


def parse_faults(text: str) -> FaultSpec:
    """Parse a ``--faults`` spec; unknown keys or bad values raise ValueError."""
    known = {f.name for f in fields(FaultSpec)}
    values: dict[str, float | int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ValueError(f"fault {part!r}: expected key=value")
        if key not in known:
            raise ValueError(f"unknown fault {key!r} (known: {', '.join(sorted(known))})")
        values[key] = _convert(key, value)
    return FaultSpec(**values)  # type: ignore[arg-type]


class FaultDice:
    """Deterministic per-request draws for the random faults of a spec."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._seen: Counter[str] = Counter()

    def draw(self, request_key: str) -> tuple[float, float]:
        """Two uniform numbers in [0, 1) for this occurrence of ``request_key``."""
        n = self._seen[request_key]
        self._seen[request_key] = n + 1
        digest = hashlib.blake2b(
            f"{self.spec.seed}\0{request_key}\0{n}".encode(), digest_size=16
        ).digest()
        return (
            int.from_bytes(digest[:8], "big") / 2**64,
            int.from_bytes(digest[8:], "big") / 2**64,
        )

    def roll(self, request_key: str) -> str | None:
        """``"timeout"``, ``"error"`` or None for one request."""
        if not (self.spec.error_rate or self.spec.timeout_rate):
            return None
        a, _ = self.draw(request_key)
        if a < self.spec.timeout_rate:
            return "timeout"
        if a < self.spec.timeout_rate + self.spec.error_rate:
            return "error"
        return None

    def flavour(self, request_key: str) -> bool:
        """Whether an injected error is a 503 with an HTML body (else a 500 with JSON)."""
        return self.draw(request_key + "\0flavour")[0] < 0.5
