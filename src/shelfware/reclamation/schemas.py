"""Shapes the reclamation faces print."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReclaimOutcomeView:
    candidate_id: int
    profile: str
    username: str | None
    action: str  # reclaimed | already_gone | canceled | failed | would_reclaim | would_cancel
    state: str
    message: str = ""
