"""A home with an organisation worth reporting on: two models in two currencies, people,
unmatched accounts, reclaimed seats, renewals, and two stored reconciliations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import IntegrationProfile, Person, RemovalCandidate, Subscription
from shelfware.profiles import service as profiles
from tests.cli.conftest import MODEL, PROFILE, database, invoke, seed_home
from tests.conftest import NOW

EURO_MODEL = "Acme Boards Team"


def seed_base(db) -> None:  # type: ignore[no-untyped-def]
    """What ``seed_home`` gives a CLI home: the Rally model (default rule) and a profile."""
    clock = FrozenClock(NOW)
    with db.transaction() as s:
        profiles.ensure_software_model(s, clock, "Broadcom", "Rally", "Unlimited")
        s.add(
            IntegrationProfile(
                name=PROFILE,
                kind="rally",
                url="https://rally1.rallydev.com/slm/webservice",
                options={},
                analyze_activity_from=NOW,
                created_at=NOW,
                updated_at=NOW,
                connection_changed_at=NOW,
            )
        )


def seed_org(db) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock(NOW)
    with db.transaction() as s:
        rally = licensing.find_model(s, MODEL)
        boards = profiles.ensure_software_model(s, clock, "Acme", "Boards", "Team")
        profile_id = s.scalar(
            select(IntegrationProfile.id).where(IntegrationProfile.name == PROFILE)
        )
        # where their seats are charged: p0 from the IdP, p1 overridden, p2 nowhere
        charging = [
            {"department": "Engineering", "cost_center": "CC-1"},
            {"department": "Sales", "department_override": "Marketing"},
            {},
        ]
        people = [
            Person(email=f"p{i}@example.com", created_at=NOW, **charging[i]) for i in range(3)
        ]
        s.add_all(people)
        s.flush()
        accounts = [
            # model, idle days (None: never), person index (None: matches nobody)
            (rally, 3, 0),
            (rally, 45, 1),
            (rally, 75, None),
            (rally, 120, 2),
            (rally, None, None),
            (boards, 10, 0),
            (boards, 200, None),
        ]
        for i, (model, idle, person) in enumerate(accounts):
            s.add(
                Subscription(
                    profile_id=profile_id,
                    software_model_id=model.id,
                    external_id=f"a{i}",
                    username=f"user{i}",
                    email=f"user{i}@example.com",
                    active=True,
                    edition=model.edition,
                    first_seen_at=NOW - timedelta(days=300),
                    last_activity_at=None if idle is None else NOW - timedelta(days=idle),
                    person_id=None if person is None else people[person].id,
                )
            )
        s.flush()
        reclaimed = s.scalar(select(Subscription.id).where(Subscription.external_id == "a3"))
        s.add(
            RemovalCandidate(
                subscription_id=reclaimed,
                profile_id=profile_id,
                software_model_id=rally.id,
                state="closed_complete",
                justification="low_usage",
                created_at=NOW - timedelta(days=20),
                updated_at=NOW - timedelta(days=10),
                closed_at=NOW - timedelta(days=10),
            )
        )
        for data in (
            EntitlementCreate(
                model=MODEL,
                seats=4,
                unit_cost=Decimal("12.5"),
                billing_period="monthly",
                renewal_date=(NOW + timedelta(days=30)).date(),
                notice_date=(NOW + timedelta(days=5)).date(),
                contract_ref="RALLY-1",
            ),
            EntitlementCreate(
                model=EURO_MODEL,
                seats=10,
                unit_cost=Decimal("99.99"),
                currency="EUR",
                term_end=(NOW + timedelta(days=60)).date(),
                contract_ref="BOARDS-7",
            ),
        ):
            licensing.add_entitlement(s, clock, data)
    for days_back in (14, 0):
        with db.transaction() as s:
            licensing.record_reconciliation(s, clock, NOW - timedelta(days=days_back))


@pytest.fixture
def org_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    seed_home(home)
    db = database(home)
    seed_org(db)
    db.dispose()
    yield home


@pytest.fixture
def org_db(db):  # type: ignore[no-untyped-def]
    """The same organisation in the ``db`` fixture's store (SQLite or PostgreSQL)."""
    seed_base(db)
    seed_org(db)
    return db


__all__ = ["EURO_MODEL", "invoke", "org_db", "org_home"]
