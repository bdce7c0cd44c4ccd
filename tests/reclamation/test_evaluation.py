"""Rule evaluation (reclamation/evaluation.py): which seats become removal candidates, and when
an open candidate is canceled or closed. A published profile through the real services;
subscriptions inserted through the models; `evaluate_profile` on SQLite or PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, literal, select
from sqlalchemy.exc import IntegrityError

from shelfware.connectors.base import CheckResult, ValidationReport
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import directory_port
from shelfware.reclamation.evaluation import EvaluationResult, evaluate_profile, exclusion_condition

pytestmark = pytest.mark.store

PASS = ValidationReport(checks=(CheckResult("download", True),))


@dataclass
class World:
    db: Any
    clock: Any
    profile_id: int
    model_id: int

    def add(
        self,
        external_id: str,
        *,
        idle_days: float | None = None,
        created_days_ago: float | None = 400,
        first_seen_days_ago: float = 0,
        admin: bool = False,
        username: str | None = None,
        email: str | None = "",
        active: bool = True,
    ) -> None:
        """A subscription idle for ``idle_days`` (None: never used)."""
        now = self.clock.now()
        with self.db.transaction() as s:
            s.add(
                Subscription(
                    profile_id=self.profile_id,
                    software_model_id=self.model_id,
                    external_id=external_id,
                    username=username or external_id,
                    email=f"{external_id}@corp.test" if email == "" else email,
                    display_name=external_id,
                    active=active,
                    admin=admin,
                    edition="Unlimited",
                    created_in_app_at=(
                        None if created_days_ago is None else now - timedelta(created_days_ago)
                    ),
                    last_activity_at=None if idle_days is None else now - timedelta(idle_days),
                    first_seen_at=now - timedelta(first_seen_days_ago),
                )
            )

    def update(self, external_id: str, **values: Any) -> None:
        with self.db.transaction() as s:
            sub = s.scalars(select(Subscription).filter_by(external_id=external_id)).one()
            for name, value in values.items():
                setattr(sub, name, value)

    def rule(self, **values: Any) -> None:
        with self.db.transaction() as s:
            rule = s.scalars(select(ReclamationRule)).one()
            for name, value in values.items():
                setattr(rule, name, value)

    def profile(self, **values: Any) -> None:
        with self.db.transaction() as s:
            profile = s.get_one(IntegrationProfile, self.profile_id)
            for name, value in values.items():
                setattr(profile, name, value)

    def evaluate(self, *, can_reclaim: bool = True) -> EvaluationResult:
        with self.db.transaction() as s:
            profile = s.get_one(IntegrationProfile, self.profile_id)
            return evaluate_profile(s, profile, self.clock.now(), can_reclaim=can_reclaim)

    def candidates(self) -> dict[str, list[RemovalCandidate]]:
        """Every candidate by its account's external id, oldest first."""
        with self.db.sessions() as s:
            rows = s.execute(
                select(Subscription.external_id, RemovalCandidate)
                .join(Subscription, Subscription.id == RemovalCandidate.subscription_id)
                .order_by(RemovalCandidate.id)
            ).all()
        out: dict[str, list[RemovalCandidate]] = {}
        for external_id, candidate in rows:
            out.setdefault(external_id, []).append(candidate)
        return out

    def states(self) -> dict[str, list[str]]:
        return {k: [c.state for c in v] for k, v in self.candidates().items()}

    def open(self) -> set[str]:
        cands = self.candidates().items()
        return {k for k, v in cands if any(CandidateState(c.state).is_open for c in v)}


def published_profile(s: Any, keys: Any, clock: Any) -> IntegrationProfile:
    """A published Rally profile "r" (never reached: evaluation reads the store only)."""
    profile = profiles.create_profile(
        s,
        keys,
        clock,
        ProfileCreate(
            kind="rally",
            name="r",
            url="http://127.0.0.1:9/slm/webservice",
            secrets={"api_key": "_k"},
        ),
    )
    profiles.record_validation(s, clock, profile, PASS)
    profiles.publish_profile(s, clock, profile)
    return profile


@pytest.fixture
def world(db, keys, clock) -> World:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        profile = published_profile(s, keys, clock)
        model = s.scalars(select(SoftwareModel)).one()
        return World(db, clock, profile.id, model.id)


def test_threshold_selects_only_seats_idle_longer_than_it(world: World) -> None:
    world.add("idle-61", idle_days=61)
    world.add("idle-60", idle_days=60)  # exactly the threshold: not yet
    world.add("idle-59", idle_days=59)
    world.add("idle-400", idle_days=400)
    world.add("disabled", idle_days=400, active=False)  # holds no seat

    result = world.evaluate()

    assert result.created == 2
    cands = world.candidates()
    assert set(cands) == {"idle-61", "idle-400"}
    first = cands["idle-61"][0]
    assert (first.state, first.justification, first.inactive_days) == ("ready", "low_usage", 61)
    assert cands["idle-400"][0].inactive_days == 400

    world.rule(threshold_days=30)
    assert world.evaluate().created == 2
    assert world.open() == {"idle-61", "idle-400", "idle-60", "idle-59"}


def test_new_account_grace(world: World) -> None:
    world.add("new-never-used", idle_days=None, created_days_ago=10)
    world.add("old-never-used", idle_days=None, created_days_ago=90)
    # no creation date in the app: the first time we saw it counts
    world.add("seen-late", idle_days=None, created_days_ago=None, first_seen_days_ago=5)
    world.add("seen-early", idle_days=None, created_days_ago=None, first_seen_days_ago=61)

    world.evaluate()
    cands = world.candidates()
    assert set(cands) == {"old-never-used", "seen-early"}
    assert cands["old-never-used"][0].justification == "never_used"
    assert cands["old-never-used"][0].inactive_days == 90

    world.rule(new_account_grace=False)
    world.evaluate()
    assert world.open() == {"old-never-used", "seen-early", "new-never-used", "seen-late"}


def test_admins_are_excluded_unless_the_rule_says_otherwise(world: World) -> None:
    world.add("admin", idle_days=200, admin=True)
    world.add("user", idle_days=200)
    world.evaluate()
    assert world.open() == {"user"}
    world.rule(exclude_admins=False)
    world.evaluate()
    assert world.open() == {"user", "admin"}


def test_named_users_and_domains_are_excluded_case_insensitively(world: World) -> None:
    world.add("by-username", idle_days=200, username="Svc.Build")
    world.add("by-email", idle_days=200, email="Robot@Corp.test")
    world.add("by-domain", idle_days=200, email="someone@Partner.Example")
    world.add("subdomain-lookalike", idle_days=200, email="x@notpartner.example")
    world.add("no-email", idle_days=200, email=None)
    world.add("plain", idle_days=200)
    world.rule(
        excluded_users=["svc.build", " ROBOT@corp.test ", ""],
        excluded_domains=["@partner.example", " "],
    )
    world.evaluate()
    assert world.open() == {"subdomain-lookalike", "no-email", "plain"}


def test_service_accounts_are_excluded_by_glob_pattern(world: World) -> None:
    world.add("svc-build", idle_days=200, username="SVC-Build")
    world.add("bot", idle_days=200, email="deploy-bot@corp.test")
    world.add("literal", idle_days=200, username="a_b%c")  # LIKE wildcards are literal here
    world.add("almost", idle_days=200, username="axbyc")
    world.add("plain", idle_days=200)
    world.rule(service_account_patterns=["svc-*", "*-bot@*", "a_b%c"])
    world.evaluate()
    assert world.open() == {"almost", "plain"}


def test_group_members_are_excluded_through_the_directory(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelfware.directory import service as directory

    asked: list[list[str]] = []

    def members(groups: list[str]) -> Select[tuple[str]]:
        asked.append(groups)
        return select(literal("contractor@corp.test")).where(literal("contractors" in groups))

    monkeypatch.setattr(directory, "group_member_keys", members)
    world.add("contractor", idle_days=200)
    world.add("plain", idle_days=200)
    world.evaluate()
    assert world.open() == {"contractor", "plain"} and asked == []  # no groups: not asked
    world.rule(excluded_groups=["contractors"])
    world.evaluate()
    assert world.open() == {"plain"} and asked == [["contractors"]]


def test_a_new_exclusion_cancels_an_open_candidate(world: World) -> None:
    world.add("a", idle_days=200)
    world.add("b", idle_days=200)
    world.evaluate()
    world.rule(excluded_users=["a"])
    result = world.evaluate()
    assert (result.created, result.canceled) == (0, 1)
    assert world.states() == {"a": ["closed_canceled"], "b": ["ready"]}
    assert "no longer selected" in (world.candidates()["a"][0].reason or "")


def test_the_credential_owner_is_never_a_candidate(world: World) -> None:
    world.add("owner", idle_days=500)
    world.add("other", idle_days=500)
    world.profile(credential_owner_external_id="owner")
    world.evaluate()
    assert world.open() == {"other"}


def test_an_inactive_rule_selects_nothing_and_cancels_open_candidates(world: World) -> None:
    world.add("a", idle_days=200)
    world.evaluate()
    world.add("b", idle_days=200)
    world.rule(active=False)
    result = world.evaluate()
    assert (result.created, result.canceled) == (0, 1)
    assert world.states() == {"a": ["closed_canceled"]}


def test_without_the_activity_process_nothing_new_is_selected(world: World) -> None:
    world.add("a", idle_days=200)
    world.profile(process_activity=False)
    assert world.evaluate().created == 0
    assert world.candidates() == {}
    world.profile(process_activity=True)
    assert world.evaluate().created == 1


def test_a_candidate_is_canceled_when_the_account_is_active_again(world: World) -> None:
    world.add("back", idle_days=200)
    world.add("still", idle_days=200)
    world.evaluate()
    world.clock.advance(timedelta(hours=1))
    world.update("back", last_activity_at=world.clock.now() - timedelta(days=1))
    result = world.evaluate()
    assert (result.created, result.canceled, result.closed) == (0, 1, 0)
    back = world.candidates()["back"][0]
    assert back.state == "closed_canceled"
    assert back.closed_at == world.clock.now()
    assert "active again" in (back.reason or "")
    assert world.states()["still"] == ["ready"]


def test_reclaimed_candidates_are_not_canceled(world: World) -> None:
    world.add("a", idle_days=200)
    world.evaluate()
    with world.db.transaction() as s:
        candidate = s.scalars(select(RemovalCandidate)).one()
        candidate.reclaimed_at = world.clock.now()
    world.update("a", last_activity_at=world.clock.now())
    assert world.evaluate().canceled == 0
    assert world.states() == {"a": ["ready"]}


def _gone(world: World, external_id: str) -> None:
    world.update(external_id, gone_at=world.clock.now())


def test_gone_seats_close_complete_when_we_reclaimed_them_else_skipped(world: World) -> None:
    for name in ("reclaimed", "vanished", "disabled-elsewhere", "kept"):
        world.add(name, idle_days=200)
    world.evaluate()
    with world.db.transaction() as s:
        for candidate, external_id in s.execute(
            select(RemovalCandidate, Subscription.external_id).join(
                Subscription, Subscription.id == RemovalCandidate.subscription_id
            )
        ):
            if external_id == "reclaimed":  # what a reclaim leaves behind
                candidate.reclaimed_at = world.clock.now()
                candidate.state = CandidateState.AWAITING_REVOCATION
    world.clock.advance(timedelta(hours=1))
    world.update("reclaimed", active=False)
    _gone(world, "vanished")
    world.update("disabled-elsewhere", active=False)

    result = world.evaluate()

    assert (result.created, result.canceled, result.closed) == (0, 0, 3)
    assert world.states() == {
        "reclaimed": ["closed_complete"],
        "vanished": ["closed_skipped"],
        "disabled-elsewhere": ["closed_skipped"],
        "kept": ["ready"],
    }
    closed = world.candidates()["vanished"][0]
    assert closed.closed_at == world.clock.now() and "other means" in (closed.reason or "")


def test_manual_tasks_close_complete_when_the_seat_is_gone(world: World) -> None:
    world.add("a", idle_days=200)
    world.add("b", idle_days=200, email=None)
    world.evaluate(can_reclaim=False)
    assert world.states() == {"a": ["awaiting_revocation"], "b": ["awaiting_revocation"]}
    world.update("a", active=False)
    assert world.evaluate(can_reclaim=False).closed == 1
    assert world.states()["a"] == ["closed_complete"]


def test_notify_without_email_needs_attention(world: World) -> None:
    world.add("mail", idle_days=200)
    world.add("nomail", idle_days=200, email=None)
    world.rule(notify=True)
    world.evaluate()
    assert world.states() == {"mail": ["ready"], "nomail": ["attention_required"]}


def test_one_open_candidate_per_subscription(world: World) -> None:
    world.add("a", idle_days=200)
    assert world.evaluate().created == 1
    assert world.evaluate().created == 0  # already has an open one
    world.update("a", last_activity_at=world.clock.now())
    world.evaluate()  # canceled
    world.clock.advance(timedelta(days=100))
    assert world.evaluate().created == 1  # idle again: a new candidate, the old stays closed
    assert world.states() == {"a": ["closed_canceled", "ready"]}

    with world.db.transaction() as s:
        open_one = s.scalars(
            select(RemovalCandidate).where(RemovalCandidate.state == "ready")
        ).one()
        now: datetime = world.clock.now()
        s.add(
            RemovalCandidate(
                subscription_id=open_one.subscription_id,
                profile_id=open_one.profile_id,
                software_model_id=open_one.software_model_id,
                state="awaiting_user",
                justification="low_usage",
                created_at=now,
                updated_at=now,
            )
        )
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()


def test_excluding_a_group_of_40000_people_is_one_query(world: World) -> None:
    """Okta's "Everyone" group: the exclusion joins the directory's tables instead of binding
    every member's email (40,000 values are more than SQLite takes in one statement)."""
    from sqlalchemy import insert

    from shelfware.models import Person, PersonGroup

    now = world.clock.now()
    with world.db.transaction() as s:
        s.execute(
            insert(Person),
            [{"email": f"p{i}@corp.test", "created_at": now} for i in range(40_000)],
        )
        ids = s.scalars(select(Person.id).order_by(Person.id)).all()
        s.execute(
            insert(PersonGroup),
            [{"person_id": pid, "profile_id": world.profile_id, "name": "Everyone"} for pid in ids],
        )
    world.add("p7", idle_days=200)  # a member: p7@corp.test
    world.add("outsider", idle_days=200)
    world.rule(excluded_groups=["everyone"])
    world.evaluate()
    assert world.open() == {"outsider"}
    with world.db.sessions() as s:
        rule = s.scalars(select(ReclamationRule)).one()
        members = directory_port.group_members(s, rule.excluded_groups)
        condition = exclusion_condition(rule, None, members)
        bound = condition.compile(dialect=s.get_bind().dialect).params
    assert len(bound) < 20, f"{len(bound)} values bound: the members were listed, not joined"
