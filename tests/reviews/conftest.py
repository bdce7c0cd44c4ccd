"""Review campaigns over a small organisation written straight into the store: people with
managers (as an identity provider imported them), two apps (Rally reclaims through its API,
Roadmunk has none: its revokes are tasks), a rule whose approver owns Rally."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from shelfware.kit.db import Database
from shelfware.models import (
    IntegrationProfile,
    Person,
    ReclamationRule,
    SoftwareModel,
    Subscription,
)
from tests.conftest import NOW


@dataclass
class Org:
    rally: int  # profile ids
    roadmunk: int
    rally_model: int
    roadmunk_model: int
    seats: dict[tuple[str, str], int]  # (holder email, app) -> subscription id


PEOPLE = {
    # email: (idp id, manager reference as the provider gives it, department)
    "ceo@acme.test": ("u0", None, "Board"),
    "boss@acme.test": ("u1", "u0", "Sales"),  # by id
    "ann@acme.test": ("u2", "u1", "Sales"),
    "bob@acme.test": ("u3", "boss@acme.test", "Sales"),  # by login
    "cat@acme.test": ("u4", None, "Sales"),  # no manager: the model's owner reviews
    "gone@acme.test": ("u5", "u1", "Sales"),
    "dan@acme.test": ("u6", "u9", "R&D"),  # a manager nobody knows
}


def seed(db: Database) -> Org:
    with db.transaction() as session:
        idp = _profile("okta", "okta")
        rally = _profile("rally", "rally")
        roadmunk = _profile("roadmunk", "roadmunk")
        session.add_all([idp, rally, roadmunk])
        session.flush()
        people = {}
        for email, (uid, manager, department) in PEOPLE.items():
            person = Person(
                email=email,
                created_at=NOW,
                idp_profile_id=idp.id,
                idp_user_id=uid,
                idp_login=email,
                idp_status="ACTIVE",
                idp_manager_id=manager,
                department=department,
            )
            session.add(person)
            people[email] = person
        models = {}
        for product in ("Rally", "Roadmunk"):
            model = SoftwareModel(
                publisher="Acme",
                product=product,
                edition="Std",
                created_at=NOW,
                list_price=120 if product == "Rally" else None,
            )
            session.add(model)
            models[product] = model
        session.flush()
        session.add(
            ReclamationRule(
                software_model_id=models["Rally"].id,
                approvers=["Owner@Acme.test"],
                created_at=NOW,
                updated_at=NOW,
            )
        )
        seats = {}
        for email in (
            "boss@acme.test",
            "ann@acme.test",
            "bob@acme.test",
            "cat@acme.test",
            "dan@acme.test",
        ):
            for product, prof in (("Rally", rally), ("Roadmunk", roadmunk)):
                sub = _seat(prof.id, models[product].id, people[email], product)
                session.add(sub)
                session.flush()
                seats[(email, product)] = sub.id
        gone = _seat(rally.id, models["Rally"].id, people["gone@acme.test"], "Rally")
        gone.active = False
        session.add(gone)
        return Org(rally.id, roadmunk.id, models["Rally"].id, models["Roadmunk"].id, seats)


def _profile(name: str, kind: str) -> IntegrationProfile:
    return IntegrationProfile(
        name=name,
        kind=kind,
        status="published",
        url=f"https://{name}.example",
        options={},
        process_activity=True,
        process_reclaim=True,
        analyze_activity_from=NOW - timedelta(days=365),
        created_at=NOW,
        updated_at=NOW,
        connection_changed_at=NOW,
    )


def _seat(profile_id: int, model_id: int, person: Person, product: str) -> Subscription:
    return Subscription(
        profile_id=profile_id,
        software_model_id=model_id,
        external_id=f"{product}-{person.email}",
        username=person.email,
        email=person.email,
        active=True,
        edition="Std",
        first_seen_at=NOW - timedelta(days=200),
        last_activity_at=NOW - timedelta(days=10),
        person_id=person.id,
    )


@pytest.fixture
def org(db: Database) -> Org:
    return seed(db)


def by_holder(items: Any) -> dict[tuple[str | None, str], Any]:
    return {(i.holder, i.app.split()[1]): i for i in items}
