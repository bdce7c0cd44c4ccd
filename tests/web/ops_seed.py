"""What the operations pages' tests share: one Rally profile's seats of one priced software
model (some idle, one a service account, some in use) written through the real models, people
behind them, and signing a browser in as a role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import KeyRing
from shelfware.kit.db import Database
from shelfware.models import Person, Subscription
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from tests.web.conftest import PASSWORD

MODEL = "Broadcom Rally Unlimited"
PRICE = Decimal("120")  # a seat a year, USD


@dataclass(frozen=True)
class Seeded:
    model_id: int
    person_id: int  # holds one idle seat and one seat in use
    idle: int  # seats idle for 90 days (the default rule's 60 selects them)


def seed_seats(
    db: Database, keys: KeyRing, clock: FrozenClock, *, url: str | None = None, idle: int = 6
) -> Seeded:
    now = clock.now()
    with db.transaction() as session:
        model = profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        model.list_price = PRICE
        model.currency = "USD"
        profiles.ensure_default_rule(session, clock, model)
        profile = profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(
                kind="rally",
                name="rally",
                url=url or "https://rally1.rallydev.com/slm/webservice",
                secrets={"api_key": "k"},
                reclaim=True,
            ),
        )
        person = Person(email="ada@example.com", display_name="Ada", created_at=now)
        session.add(person)
        session.flush()
        names = [f"idle{i}" for i in range(idle - 1)] + ["svc-bot"]
        seats = [(name, now - timedelta(days=90)) for name in names]
        seats += [(f"busy{i}", now - timedelta(days=5)) for i in range(4)]
        for i, (name, last) in enumerate(seats):
            session.add(
                Subscription(
                    profile_id=profile.id,
                    software_model_id=model.id,
                    external_id=f"u{i}",
                    username=name,
                    email=f"{name}@example.com",
                    active=True,
                    admin=False,
                    edition="Unlimited",
                    last_activity_at=last,
                    first_seen_at=now - timedelta(days=400),
                    person_id=person.id if name in ("idle0", "busy0") else None,
                )
            )
        return Seeded(model_id=model.id, person_id=person.id, idle=idle)


def sign_in(page: Any, base: str, role: str) -> None:
    page.goto(base + "/sign-in")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
