"""Signed, expiring, single-use "keep" / "release" links.

A link is ``{candidate, action, nonce}`` signed with a key derived from the key ring (every key
of the ring verifies, so rotation does not break links in flight). The nonce's row
(``answer_link``) holds the expiry, checked against the injected clock, and the moment it was
used: one message's two links share a nonce, so the first answer spends both, and a replay is
refused. Nothing is written while checking.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from shelfware.kit.clock import Clock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import rowcount
from shelfware.models.reclamation import AnswerLink

Action = Literal["keep", "release"]
ACTIONS: tuple[Action, ...] = ("keep", "release")
SALT = "shelfware.answer-link.v1"
_LINKS = cast(Table, AnswerLink.__table__)


class LinkRefused(Exception):
    """A link that cannot be used: ``kind`` is forged, expired, used or closed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class VerifiedLink:
    candidate_id: int
    action: Action
    nonce: str
    expires_at: datetime


def _serializer(keys: KeyRing) -> URLSafeSerializer:
    # itsdangerous signs with the last secret and verifies with any: newest last.
    derived = [hashlib.sha256(b"shelfware answer links\0" + key).digest() for key in keys.keys]
    return URLSafeSerializer(list(reversed(derived)), salt=SALT)


def issue(
    session: Session, keys: KeyRing, clock: Clock, candidate_id: int, expires_at: datetime
) -> dict[str, str]:
    """New keep/release tokens for one message (one nonce, stored)."""
    nonce = secrets.token_urlsafe(24)
    session.add(
        AnswerLink(
            nonce=nonce, candidate_id=candidate_id, created_at=clock.now(), expires_at=expires_at
        )
    )
    serializer = _serializer(keys)
    return {
        action: str(serializer.dumps({"c": candidate_id, "a": action, "n": nonce}))
        for action in ACTIONS
    }


def verify(session: Session, keys: KeyRing, clock: Clock, token: str) -> VerifiedLink:
    """The link's content, or LinkRefused saying why it cannot be used."""
    try:
        data: Any = _serializer(keys).loads(token)
    except BadSignature:
        raise LinkRefused(
            "forged", "This link is not valid: it was not issued by shelfware."
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("a") not in ACTIONS
        or not isinstance(data.get("c"), int)
        or not isinstance(data.get("n"), str)
    ):
        raise LinkRefused("forged", "This link is not valid.")
    row = session.get(AnswerLink, data["n"])
    if row is None or row.candidate_id != data["c"]:
        raise LinkRefused("forged", "This link is not valid: shelfware has no record of it.")
    if row.used_at is not None:
        raise LinkRefused(
            "used", f"This link was already used ({row.used_for}); an answer counts only once."
        )
    if clock.now() >= row.expires_at:
        raise LinkRefused("expired", f"This link expired on {row.expires_at:%Y-%m-%d %H:%M} UTC.")
    return VerifiedLink(data["c"], data["a"], data["n"], row.expires_at)


def spend(session: Session, clock: Clock, link: VerifiedLink) -> None:
    """Mark the link used, atomically: of two concurrent answers only one gets through."""
    spent = session.execute(
        update(_LINKS)
        .where(_LINKS.c.nonce == link.nonce, _LINKS.c.used_at.is_(None))
        .values(used_at=clock.now(), used_for=link.action)
    )
    if rowcount(spent) != 1:
        raise LinkRefused("used", "This link was already used; an answer counts only once.")
