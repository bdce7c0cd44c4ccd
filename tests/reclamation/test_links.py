"""Answer links: a forged, expired, replayed or no longer pending link is refused with a clear
page over real HTTP, and nothing in the store changes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from cryptography.fernet import Fernet

from shelfware.kit.crypto import KeyRing
from shelfware.reclamation import links
from tests.reclamation.conftest import World, follow

pytestmark = pytest.mark.store


async def _asked(world: World) -> tuple[dict, dict[str, str]]:  # type: ignore[type-arg]
    cand = next(c for c in world.candidates("ready") if c["email"])
    await world.advance()
    return cand, world.mailbox.links(cand["email"])


def _refused(response: httpx.Response, status: int, kind: str, words: str) -> None:
    assert response.status_code == status, response.text
    assert 'id="link-refused"' in response.text and f'data-kind="{kind}"' in response.text
    assert words in response.text and "Nothing was changed" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_forged_links_are_refused_and_change_nothing(world: World) -> None:
    cand, urls = await _asked(world)
    token = urls["keep"].rsplit("/", 1)[1]
    base = urls["keep"].rsplit("/", 1)[0]
    # a changed signature, a changed payload, garbage, and a link signed with another key
    tampered_sig = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    payload, sig = token.split(".", 1)
    other = KeyRing([Fernet.generate_key()])
    with world.db.transaction() as s:
        foreign = links.issue(s, other, world.clock, cand["id"], world.clock.now() + timedelta(1))
        s.rollback()
    before = world.snapshot()
    for bad in (tampered_sig, payload[:-2] + "xx." + sig, "nonsense", foreign["keep"]):
        for method in ("GET", "POST"):
            response = httpx.request(method, f"{base}/{bad}")
            _refused(response, 400, "forged", "not valid")
    assert world.snapshot() == before
    assert world.candidate(cand["id"]).state == "awaiting_user"


async def test_expired_link_is_refused_and_changes_nothing(world: World) -> None:
    _cand, urls = await _asked(world)
    world.clock.advance(timedelta(days=7, seconds=1))
    before = world.snapshot()
    _refused(follow(urls["release"]), 410, "expired", "expired on")
    _refused(httpx.post(urls["keep"]), 410, "expired", "expired on")
    assert world.snapshot() == before


async def test_a_link_answers_once_and_replays_are_refused(world: World) -> None:
    cand, urls = await _asked(world)
    done = follow(urls["release"])
    assert done.status_code == 200 and 'id="answer-recorded"' in done.text
    assert world.candidate(cand["id"]).answer == "release"
    before = world.snapshot()
    _refused(httpx.post(urls["release"]), 409, "used", "already used")
    _refused(httpx.get(urls["keep"]), 409, "used", "already used")  # same message, same nonce
    assert world.snapshot() == before
    assert world.candidate(cand["id"]).answer == "release"


async def test_the_get_only_shows_the_question(world: World) -> None:
    """Mail scanners open links: a GET never answers."""
    _cand, urls = await _asked(world)
    before = world.snapshot()
    page = httpx.get(urls["keep"])
    assert page.status_code == 200 and "Keep your Broadcom Rally Unlimited seat?" in page.text
    assert world.snapshot() == before


async def test_a_reminder_link_is_refused_once_the_seat_is_decided(world: World) -> None:
    cand, first = await _asked(world)
    world.clock.advance(timedelta(days=5, hours=12))
    await world.advance()
    second = world.mailbox.links(cand["email"])
    assert second != first
    assert follow(second["keep"]).status_code == 200  # answered through the reminder
    before = world.snapshot()
    _refused(follow(first["release"]), 409, "closed", "no longer waiting")
    assert world.snapshot() == before


async def test_concurrent_answers_with_one_link_count_once(world: World) -> None:
    cand, urls = await _asked(world)
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(
            *(client.post(urls["release" if i % 2 else "keep"]) for i in range(6))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    with world.db.sessions() as s:
        from sqlalchemy import func, select

        from shelfware.models import AuditEvent

        answered = s.scalar(
            select(func.count()).where(
                AuditEvent.object_id == str(cand["id"]),
                AuditEvent.action.in_(["candidate.released", "candidate.awaiting_approval"]),
            )
        )
    assert answered == 1
