"""Rule evaluation looks only where an outcome can change (reclamation/rules_delta.py).

The property: after any history of account writes, people leaving and coming back, keeps,
candidates closed by the workflow, rule and setting changes and clock advances, the
evaluation restricted to what changed since the last one writes exactly what a full
evaluation of the same store writes (the full one runs first in a savepoint that is rolled
back). Then one test per trigger: the threshold crossed with nothing written, a leaver, a
rule change, a keep running out, a candidate closed by the workflow."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from shelfware.kit.clock import FrozenClock
from shelfware.models import (
    CandidateState,
    IntegrationProfile,
    Person,
    ReclamationRule,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation.evaluation import EvaluationResult, evaluate_profile
from tests.reclamation.test_evaluation import PASS

pytestmark = pytest.mark.store

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ACCOUNTS = [f"a{i}" for i in range(5)]
PEOPLE = [f"p{i}" for i in range(2)]
STATUSES = [None, "ACTIVE", "DEPROVISIONED", "SUSPENDED"]
DEFAULT_RULE: dict[str, Any] = {
    "threshold_days": 60,
    "active": True,
    "exclude_admins": True,
    "new_account_grace": True,
    "excluded_users": [],
}
_names = itertools.count()


@dataclass
class Store:
    """One profile of its own in the test's database (each example gets a fresh one)."""

    db: Any
    clock: FrozenClock
    profile_id: int
    model_id: int
    tag: str

    def external(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def sub(self, s: Session, name: str) -> Subscription | None:
        return s.scalar(
            select(Subscription).where(
                Subscription.profile_id == self.profile_id,
                Subscription.external_id == self.external(name),
            )
        )

    def person(self, s: Session, name: str) -> Person:
        email = f"{self.tag}-{name}@corp.test"
        person = s.scalar(select(Person).where(Person.email == email))
        if person is None:
            person = Person(email=email, created_at=self.clock.now())
            s.add(person)
            s.flush()
        return person

    def evaluate(self, s: Session, *, full: bool) -> EvaluationResult:
        profile = s.get_one(IntegrationProfile, self.profile_id)
        return evaluate_profile(s, profile, self.clock.now(), can_reclaim=True, full=full)

    def outcome(self, s: Session) -> list[tuple[Any, ...]]:
        """Every candidate of the profile, without its id (a rolled-back insert may use one
        up on PostgreSQL), and every account's keep."""
        C = RemovalCandidate
        rows = s.execute(
            select(
                Subscription.external_id,
                C.state,
                C.justification,
                C.action,
                C.rule_id,
                C.inactive_days,
                C.unit_cost,
                C.reason,
                C.created_at,
                C.updated_at,
                C.closed_at,
            )
            .join(Subscription, Subscription.id == C.subscription_id)
            .where(C.profile_id == self.profile_id)
        ).all()
        kept = s.execute(
            select(Subscription.external_id, Subscription.kept_until).where(
                Subscription.profile_id == self.profile_id
            )
        ).all()
        return sorted((tuple(map(str, r)) for r in [*rows, *kept]), key=repr)

    def restricted_equals_full(self) -> EvaluationResult:
        with self.db.transaction() as s:
            nested = s.begin_nested()
            full = self.evaluate(s, full=True)
            expected = self.outcome(s)
            nested.rollback()
            s.expire_all()
            restricted = self.evaluate(s, full=False)
            assert self.outcome(s) == expected
            assert restricted == full
            return restricted


@pytest.fixture(autouse=True)
def no_daily_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daily full evaluation is a safety net: here every evaluation after the first is a
    restricted one unless the rules say otherwise, whatever the clock's advances."""
    from shelfware.reclamation import rules_delta

    monkeypatch.setattr(rules_delta, "FULL_EVERY", timedelta(days=100_000))


def new_store(db: Any, keys: Any) -> Store:
    clock = FrozenClock(START)
    tag = f"x{next(_names)}"
    with db.transaction() as s:
        profile = profiles.create_profile(
            s,
            keys,
            clock,
            ProfileCreate(
                kind="rally",
                name=tag,
                url="http://127.0.0.1:9/slm/webservice",
                secrets={"api_key": "_k"},
            ),
        )
        profiles.record_validation(s, clock, profile, PASS)
        profiles.publish_profile(s, clock, profile)
        model = s.scalars(select(SoftwareModel)).one()
        rule = s.scalars(select(ReclamationRule)).one()
        for name, value in DEFAULT_RULE.items():
            setattr(rule, name, value)
        return Store(db, clock, profile.id, model.id, tag)


# --------------------------------------------------------------------------- the operations

days = st.integers(min_value=0, max_value=400)
maybe_days = st.none() | days
operations = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(ACCOUNTS), maybe_days, maybe_days, st.booleans()),
    st.tuples(st.just("activity"), st.sampled_from(ACCOUNTS), maybe_days),
    st.tuples(st.just("active"), st.sampled_from(ACCOUNTS), st.booleans()),
    st.tuples(st.just("gone"), st.sampled_from(ACCOUNTS), st.booleans()),
    st.tuples(st.just("admin"), st.sampled_from(ACCOUNTS), st.booleans()),
    st.tuples(st.just("link"), st.sampled_from(ACCOUNTS), st.none() | st.sampled_from(PEOPLE)),
    st.tuples(st.just("status"), st.sampled_from(PEOPLE), st.sampled_from(STATUSES)),
    st.tuples(st.just("forget_person"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("keep"), st.sampled_from(ACCOUNTS), st.integers(1, 120)),
    st.tuples(st.just("close"), st.sampled_from(ACCOUNTS), st.sampled_from(["canceled", "skip"])),
    st.tuples(st.just("threshold"), st.integers(1, 200)),
    st.tuples(st.just("rule_active"), st.booleans()),
    st.tuples(st.just("grace"), st.booleans()),
    st.tuples(st.just("exclude"), st.lists(st.sampled_from(ACCOUNTS), max_size=2)),
    st.tuples(st.just("process_activity"), st.booleans()),
    st.tuples(st.just("advance"), st.integers(0, 90), st.integers(0, 23)),
)


def apply(store: Store, operation: tuple[Any, ...]) -> None:
    kind, *args = operation
    if kind == "advance":
        store.clock.advance(timedelta(days=args[0], hours=args[1]))
        return
    now = store.clock.now()
    with store.db.transaction() as s:
        if kind == "add":
            name, idle, created, admin = args
            if store.sub(s, name) is None:
                s.add(
                    Subscription(
                        profile_id=store.profile_id,
                        software_model_id=store.model_id,
                        external_id=store.external(name),
                        username=store.external(name),
                        email=f"{store.external(name)}@corp.test",
                        active=True,
                        admin=admin,
                        edition="Unlimited",
                        created_in_app_at=None if created is None else now - timedelta(created),
                        last_activity_at=None if idle is None else now - timedelta(idle),
                        first_seen_at=now,
                    )
                )
            return
        if kind in ("status", "forget_person"):
            person = store.person(s, args[0])
            if kind == "status":
                s.execute(update(Person).where(Person.id == person.id).values(idp_status=args[1]))
            else:  # the accounts' person_id becomes NULL by the foreign key, not by an UPDATE
                s.execute(delete(Person).where(Person.id == person.id))
            return
        if kind in ("threshold", "rule_active", "grace", "exclude"):
            rule = s.scalars(select(ReclamationRule)).one()
            column = {
                "threshold": "threshold_days",
                "rule_active": "active",
                "grace": "new_account_grace",
                "exclude": "excluded_users",
            }[kind]
            value = [store.external(n) for n in args[0]] if kind == "exclude" else args[0]
            setattr(rule, column, value)
            return
        if kind == "process_activity":
            s.get_one(IntegrationProfile, store.profile_id).process_activity = args[0]
            return
        sub = store.sub(s, args[0])
        if sub is None:
            return
        if kind == "activity":
            sub.last_activity_at = None if args[1] is None else now - timedelta(args[1])
        elif kind == "active":
            sub.active = args[1]
        elif kind == "gone":
            sub.gone_at = now if args[1] else None
        elif kind == "admin":
            sub.admin = args[1]
        elif kind == "link":
            sub.person_id = None if args[1] is None else store.person(s, args[1]).id
        elif kind == "keep":
            sub.kept_until = now + timedelta(days=args[1])
        elif kind == "close":
            state = (
                CandidateState.CLOSED_CANCELED
                if args[1] == "canceled"
                else CandidateState.CLOSED_SKIPPED
            )
            for cand in s.scalars(
                select(RemovalCandidate).where(RemovalCandidate.subscription_id == sub.id)
            ):
                if CandidateState(cand.state).is_open:
                    cand.state = state.value
                    cand.closed_at = now
                    cand.updated_at = now


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    accounts=st.lists(
        st.tuples(maybe_days, maybe_days, st.booleans(), st.none() | st.sampled_from(PEOPLE)),
        min_size=5,
        max_size=5,
    ),
    history=st.lists(st.tuples(operations, st.booleans()), min_size=5, max_size=30),
)
def test_the_restricted_evaluation_writes_what_a_full_one_writes(
    db: Any,
    keys: Any,
    accounts: list[tuple[int | None, int | None, bool, str | None]],
    history: list[tuple[tuple[Any, ...], bool]],
) -> None:
    """Accounts, a first evaluation, then each operation and (when drawn) an evaluation:
    restricted and full write the same."""
    store = new_store(db, keys)
    for name, (idle, created, admin, person) in zip(ACCOUNTS, accounts, strict=True):
        apply(store, ("add", name, idle, created, admin))
        apply(store, ("link", name, person))
    store.restricted_equals_full()
    for operation, evaluate in history:
        apply(store, operation)
        if evaluate:
            store.restricted_equals_full()
    store.restricted_equals_full()
    apply(store, ("advance", 30, 0))
    store.restricted_equals_full()


# --------------------------------------------------------------------------- each trigger


@pytest.fixture
def store(db: Any, keys: Any) -> Store:
    store = new_store(db, keys)
    for name, idle in (("busy", 10), ("idle", 100), ("never", None)):
        apply(store, ("add", name, idle, 400, False))
    result = store.restricted_equals_full()
    assert result.created == 2  # idle, never
    return store


def open_ones(store: Store) -> set[str]:
    with store.db.sessions() as s:
        return {
            external.removeprefix(f"{store.tag}-")
            for external, state in s.execute(
                select(Subscription.external_id, RemovalCandidate.state)
                .join(Subscription, Subscription.id == RemovalCandidate.subscription_id)
                .where(Subscription.profile_id == store.profile_id)
            )
            if CandidateState(state).is_open
        }


def scope_of(store: Store) -> list[int] | None:
    """The seats the next evaluation would look at (None: all of them)."""
    from shelfware.reclamation import rules_delta

    with store.db.sessions() as s:
        profile = s.get_one(IntegrationProfile, store.profile_id)
        rules = list(s.scalars(select(ReclamationRule)))
        digest = profile.rules_fingerprint or ""
        found = rules_delta.scope(s, profile, store.clock.now(), digest, rules, downgrades=False)
        return None if found is None else list(found)


def test_an_unchanged_store_is_not_looked_at_again(store: Store) -> None:
    store.clock.advance(timedelta(hours=1))
    assert scope_of(store) == []
    assert store.restricted_equals_full() == EvaluationResult()


def test_time_crossing_the_threshold_with_nothing_written(store: Store) -> None:
    store.clock.advance(timedelta(days=49))
    assert store.restricted_equals_full().created == 0
    store.clock.advance(timedelta(days=2))  # busy: idle 61 days now
    assert len(scope_of(store) or []) == 1
    assert store.restricted_equals_full().created == 1
    assert open_ones(store) == {"busy", "idle", "never"}


def test_a_leaver_and_a_person_coming_back(store: Store) -> None:
    apply(store, ("link", "busy", "p0"))
    store.restricted_equals_full()
    apply(store, ("status", "p0", "DEPROVISIONED"))  # the person only: no account written
    assert store.restricted_equals_full().created == 1
    assert "busy" in open_ones(store)
    apply(store, ("status", "p0", "ACTIVE"))
    assert store.restricted_equals_full().canceled == 1
    assert "busy" not in open_ones(store)


def test_a_rule_change_is_a_full_evaluation(store: Store) -> None:
    apply(store, ("threshold", 5))  # nothing written to an account
    assert store.restricted_equals_full().created == 1
    apply(store, ("exclude", ["idle"]))
    assert store.restricted_equals_full().canceled == 1
    assert open_ones(store) == {"busy", "never"}


def test_a_keep_running_out(store: Store) -> None:
    apply(store, ("close", "idle", "canceled"))
    apply(store, ("keep", "idle", 30))
    assert store.restricted_equals_full().created == 0
    store.clock.advance(timedelta(days=29))
    assert store.restricted_equals_full().created == 0
    store.clock.advance(timedelta(days=2))
    assert store.restricted_equals_full().created == 1
    assert "idle" in open_ones(store)


def test_a_candidate_closed_by_the_workflow_comes_back(store: Store) -> None:
    apply(store, ("close", "never", "skip"))
    assert "never" not in open_ones(store)
    assert store.restricted_equals_full().created == 1
    assert "never" in open_ones(store)


def test_a_full_evaluation_once_a_day(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from shelfware.reclamation import rules_delta

    monkeypatch.setattr(rules_delta, "FULL_EVERY", timedelta(days=1))
    store.clock.advance(timedelta(hours=23))
    assert scope_of(store) == []
    store.clock.advance(timedelta(hours=1))
    assert scope_of(store) is None


def test_too_many_seats_is_a_full_evaluation(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from shelfware.reclamation import rules_delta

    monkeypatch.setattr(rules_delta, "MOST_SEATS", 1)
    apply(store, ("activity", "busy", 200))
    apply(store, ("activity", "idle", 1))
    assert scope_of(store) is None
    assert store.restricted_equals_full().created == 1


async def test_syncs_of_rally_leave_nothing_dirty_and_an_unchanged_one_evaluates_nothing(
    db: Any, keys: Any, clock: Any, rally_factory: Any
) -> None:
    from sqlalchemy import func

    from shelfware.sync.service import sync_profile
    from tests.helpers import published_rally

    sandbox = rally_factory(users=200, seed=4)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    first = await sync_profile(db, keys, clock, "rally")
    assert first.candidates_created > 0

    def dirty() -> tuple[int | None, int | None]:
        with db.sessions() as s:
            return (
                s.scalar(select(func.count()).where(Subscription.rules_dirty.is_(True))),
                s.scalar(select(func.count()).where(RemovalCandidate.rules_dirty.is_(True))),
            )

    assert dirty() == (0, 0)
    clock.advance(timedelta(minutes=5))
    second = await sync_profile(db, keys, clock, "rally")
    assert (second.candidates_created, second.candidates_canceled) == (0, 0)
    assert dirty() == (0, 0)
    # a seat written outside the sync (here: its activity) is looked at by the next sync
    with db.transaction() as s:
        sub = s.scalars(
            select(Subscription)
            .join(RemovalCandidate, RemovalCandidate.subscription_id == Subscription.id)
            .limit(1)
        ).one()
        sub.last_activity_at = clock.now()
        sub.fingerprint = None  # as every writer of a synced field does
    clock.advance(timedelta(minutes=5))
    third = await sync_profile(db, keys, clock, "rally")
    assert third.candidates_canceled == 1
    assert dirty() == (0, 0)
