"""The renewals calendar: an iCalendar feed (RFC 5545) of every renewal and notice date, for
owners to subscribe to in their calendar.

A feed is read-only and has a token of its own kind (``shwcal_...``, 256 random bits) that
travels in its URL: only its SHA-256 digest is kept, the URL is shown once when the feed is
created, and revoking the feed ends it (the URL answers 404 from then on). The token grants
nothing but this feed: it is not an API token and opens no page.

Each entitlement with a renewal date (else a term end) gives a renewal event, and one with
a notice date a notice event: all-day events whose description carries the seats, use,
utilisation and the recommended seats of the renewals report (``renewals.right_size``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.kit.clock import Clock
from shelfware.kit.text import strip_unstorable
from shelfware.licensing.pricing import day_of
from shelfware.licensing.renewals import renewal_link, right_size, utilisation_percent
from shelfware.licensing.schemas import CalendarFeedView
from shelfware.models import CalendarFeed, Entitlement, SoftwareModel

TOKEN_PREFIX = "shwcal_"
FEED_PATH = "/calendar/renewals.ics"
PAST_DAYS = 365  # events this far back stay in the feed (a calendar keeps its history)
E = Entitlement.__table__.c


class CalendarError(ValueError):
    """A refused feed operation, one line for the user."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def feed_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{FEED_PATH}?token={token}"


def _view(feed: CalendarFeed) -> CalendarFeedView:
    return CalendarFeedView(
        id=feed.id,
        name=feed.name,
        created_at=feed.created_at,
        created_by=feed.created_by,
        revoked_at=feed.revoked_at,
    )


def create_feed(
    session: Session, clock: Clock, name: str, actor: str | None = None
) -> tuple[CalendarFeedView, str]:
    """A new feed and its token (shown once: only the digest is kept)."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise CalendarError("give the feed a name of 1..200 characters (e.g. 'finance')")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed(
        name=name, token_hash=_digest(token), created_at=clock.now(), created_by=actor
    )
    session.add(feed)
    session.flush()
    audit.record(
        session, clock, action="calendar.create", object_type="calendar_feed", object_id=feed.id
    )
    return _view(feed), token


def revoke_feed(session: Session, clock: Clock, feed_id: int) -> CalendarFeedView:
    feed = session.get(CalendarFeed, feed_id)
    if feed is None:
        raise CalendarError(f"no calendar feed {feed_id} (see: shelfware calendar list)")
    if feed.revoked_at is None:
        feed.revoked_at = clock.now()
        session.flush()
        audit.record(
            session,
            clock,
            action="calendar.revoke",
            object_type="calendar_feed",
            object_id=feed.id,
        )
    return _view(feed)


def list_feeds(session: Session) -> list[CalendarFeedView]:
    return [_view(f) for f in session.scalars(select(CalendarFeed).order_by(CalendarFeed.id))]


def feed_for(session: Session, token: str | None) -> CalendarFeedView | None:
    """The live feed ``token`` opens; None for a missing, unknown or revoked one."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = _digest(token)
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == digest))
    if feed is None or not hmac.compare_digest(feed.token_hash, digest):
        return None
    return None if feed.revoked_at is not None else _view(feed)


def _description(lines: list[tuple[str, object]]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in lines)


def renewals_calendar(
    session: Session, now: datetime, public_url: str, buffer_percent: float = 0.0
) -> bytes:
    """The feed's text: a renewal event and a notice event per entitlement (from a year
    back on), with the model's seats and utilisation in the description."""
    from shelfware.licensing.service import reconcile  # the service imports this module

    today = day_of(now)
    since = today - timedelta(days=PAST_DAYS)
    renews = func.coalesce(E.renewal_date, E.term_end)
    query = (
        select(Entitlement, SoftwareModel, renews)
        .join(SoftwareModel, SoftwareModel.id == Entitlement.software_model_id)
        .where(or_(renews >= since, E.notice_date >= since))
        .order_by(Entitlement.id)
    )
    rows = session.execute(query).all()
    positions = {p.software_model_id: p for p in reconcile(session, now)} if rows else {}
    cal = Calendar()
    cal.add("prodid", "-//shelfware//renewals//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "shelfware renewals")
    cal.add("method", "PUBLISH")
    for ent, model, renewal in rows:
        pos = positions[ent.software_model_id]
        size = right_size(ent.seats, ent.unit_cost, ent.billing_period, pos, buffer_percent)
        utilisation = utilisation_percent(pos)
        name = strip_unstorable(model.display_name) or "?"
        contract = strip_unstorable(ent.contract_ref) if ent.contract_ref else None
        link = renewal_link(public_url, ent.id)
        details = _description(
            [
                ("Software model", name),
                ("Contract", contract or "—"),
                ("Owner", ent.owner or "—"),
                ("Seats (this contract)", ent.seats),
                ("Seats owned (model)", pos.rights_owned),
                ("Used", pos.rights_used),
                ("Stale", pos.stale),
                ("Utilisation", "—" if utilisation is None else f"{utilisation:.1f}%"),
                (f"Recommended seats (+{buffer_percent:g}%)", size.recommended),
                ("Renew with", size.renew_seats),
                (
                    f"Saving at renewal ({ent.currency}/year)",
                    "no price" if size.saving is None else f"{size.saving:,.2f}",
                ),
                ("In the workspace", link),
            ]
        )
        label = f"{name}{f' ({contract})' if contract else ''}"
        dates: list[tuple[str, date | None, str]] = [
            ("renewal", renewal, f"Renewal: {label}"),
            ("notice", ent.notice_date, f"Notice date: {label}"),
        ]
        for kind, day, summary in dates:
            if day is None or day < since:
                continue
            event = Event()
            event.add("uid", f"{kind}-{ent.id}-{day.isoformat()}@shelfware")
            event.add("dtstamp", now)
            event.add("dtstart", day)
            event.add("dtend", day + timedelta(days=1))
            event.add("summary", summary)
            event.add("description", details)
            event.add("url", link)
            event.add("categories", [kind])
            event.add("transp", "TRANSPARENT")
            cal.add_component(event)
    return bytes(cal.to_ical())
