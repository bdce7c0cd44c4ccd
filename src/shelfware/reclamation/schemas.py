"""Shapes the reclamation faces print."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReclaimOutcomeView:
    candidate_id: int
    profile: str
    username: str | None
    # reclaimed | already_gone | canceled | failed | unreachable | not_attempted
    # | would_reclaim | would_cancel (dry run)
    action: str
    state: str
    message: str = ""
