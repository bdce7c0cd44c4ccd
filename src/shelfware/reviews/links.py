"""Signed links to a reviewer's page: the link is the credential (like the answer page's).

A link names one campaign and one reviewer and is signed for that purpose (HMAC through
``kit.signing``, keys from the key ring); it lasts until a fortnight after the campaign's due
date, and only ever shows and decides that reviewer's own items.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from shelfware.kit.clock import utc
from shelfware.kit.crypto import KeyRing
from shelfware.kit.signing import Signer

PURPOSE = "access review: a reviewer's page"
GRACE = timedelta(days=14)
MAX_AGE = 366 * 86400  # a link older than a year is refused whatever the due date
PAGE = "/review"


class LinkRefused(ValueError):
    """A forged or expired reviewer link."""


@dataclass(frozen=True)
class ReviewerLink:
    campaign_id: int
    reviewer: str


def _payload(campaign_id: int, reviewer: str) -> str:
    return f"{campaign_id}\n{reviewer}"


def _encode(reviewer: str) -> str:
    return base64.urlsafe_b64encode(reviewer.encode()).decode().rstrip("=")


def _decode(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise LinkRefused("this review link is not one we sent") from None


def token_for(keys: KeyRing, campaign_id: int, reviewer: str, now: datetime) -> str:
    """``CAMPAIGN.REVIEWER.ISSUED.TAG``: what the page's URL carries."""
    issued = int(utc(now).timestamp())
    tag = Signer(keys, PURPOSE).sign(_payload(campaign_id, reviewer), issued)
    return f"{campaign_id}.{_encode(reviewer)}.{tag}"


def url_for(base: str, keys: KeyRing, campaign_id: int, reviewer: str, now: datetime) -> str:
    return (
        f"{base.rstrip('/')}{PAGE}?{urlencode({'t': token_for(keys, campaign_id, reviewer, now)})}"
    )


def verify(keys: KeyRing, token: str, now: datetime, due_at: datetime | None) -> ReviewerLink:
    """The campaign and reviewer a token names; LinkRefused when forged or expired (a
    fortnight past ``due_at``; the campaign is read by the caller from the id first)."""
    parts = (token or "").split(".")
    if len(parts) != 4 or not parts[0].isdigit() or len(parts[0]) > 18:
        raise LinkRefused("this review link is not one we sent")
    campaign_id, reviewer = int(parts[0]), _decode(parts[1])
    if due_at is None or utc(now) > utc(due_at) + GRACE:
        raise LinkRefused("this review link has expired: the campaign is long past due")
    signed = Signer(keys, PURPOSE).verify(
        f"{parts[2]}.{parts[3]}",
        _payload(campaign_id, reviewer),
        int(utc(now).timestamp()),
        MAX_AGE,
    )
    if not signed:
        raise LinkRefused("this review link is not one we sent")
    return ReviewerLink(campaign_id, reviewer)


def campaign_of(token: str) -> int | None:
    """The campaign id a token claims (unverified: only to look the campaign up)."""
    head = (token or "").split(".", 1)[0]
    return int(head) if head.isdigit() and len(head) <= 18 else None


def open_link(session: Session, keys: KeyRing, now: datetime, token: str) -> ReviewerLink:
    """Verify a reviewer link against its campaign's due date (LinkRefused otherwise)."""
    from shelfware.reviews.service import ReviewNotFound, get_campaign

    campaign_id = campaign_of(token)
    if campaign_id is None:
        raise LinkRefused("this review link is not one we sent")
    try:
        campaign = get_campaign(session, campaign_id)
    except ReviewNotFound:
        raise LinkRefused("this review link's campaign no longer exists") from None
    return verify(keys, token, now, campaign.due_at)
