"""Downgrade rules (reclamation/downgrade.py): light users of an edition become candidates to
move to a cheaper one; accounts without activity-intensity data never do. A published profile
through the real services, subscriptions and activity days inserted through the models,
`evaluate_profile` on SQLite or PostgreSQL."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from shelfware.kit.clock import utc
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.licensing.service import add_entitlement
from shelfware.models import (
    ActivityDay,
    IntegrationProfile,
    RemovalCandidate,
    SoftwareModel,
    Subscription,
)
from shelfware.profiles import service as profiles
from shelfware.reclamation import rules
from shelfware.reclamation.downgrade import DowngradeRuleError
from shelfware.reclamation.evaluation import evaluate_profile
from shelfware.reclamation.schemas import RuleChange
from shelfware.reclamation.service import list_candidates
from shelfware.sync import activity_days
from tests.reclamation.test_evaluation import published_profile

pytestmark = pytest.mark.store

PRO = "Broadcom Rally Unlimited"
BASIC = "Broadcom Rally Basic"


@dataclass
class World:
    db: Any
    clock: Any
    profile_id: int
    pro: int
    basic: int

    def add(self, external_id: str, days: list[tuple[int, int]] | None = None) -> None:
        """A Pro seat active yesterday; ``days``: (days ago, events) recorded for it."""
        now = self.clock.now()
        with self.db.transaction() as s:
            sub = Subscription(
                profile_id=self.profile_id,
                software_model_id=self.pro,
                external_id=external_id,
                username=external_id,
                email=f"{external_id}@corp.test",
                active=True,
                edition="Unlimited",
                created_in_app_at=now - timedelta(400),
                last_activity_at=now - timedelta(1),
                first_seen_at=now - timedelta(400),
            )
            s.add(sub)
            s.flush()
            for ago, events in days or []:
                s.add(
                    ActivityDay(
                        subscription_id=sub.id, day=(now - timedelta(ago)).date(), events=events
                    )
                )

    def covered_since(self, days_ago: int | None) -> None:
        with self.db.transaction() as s:
            profile = s.get_one(IntegrationProfile, self.profile_id)
            profile.activity_days_from = (
                None if days_ago is None else self.clock.now() - timedelta(days_ago)
            )

    def evaluate(self, *, can_downgrade: bool = True) -> None:
        with self.db.transaction() as s:
            profile = s.get_one(IntegrationProfile, self.profile_id)
            evaluate_profile(
                s, profile, self.clock.now(), can_reclaim=True, can_downgrade=can_downgrade
            )

    def downgrades(self) -> dict[str, RemovalCandidate]:
        with self.db.sessions() as s:
            rows = s.execute(
                select(Subscription.external_id, RemovalCandidate)
                .join(Subscription, Subscription.id == RemovalCandidate.subscription_id)
                .where(RemovalCandidate.action == "downgrade")
            ).all()
        return {external_id: cand for external_id, cand in rows}

    def set_rule(self, **values: Any) -> None:
        with self.db.transaction() as s:
            rules.set_rule(s, self.clock, RuleChange(model=PRO, kind="downgrade", **values))


@pytest.fixture
def world(db, keys, clock) -> World:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        profile = published_profile(s, keys, clock)
        pro = s.scalars(select(SoftwareModel)).one()
        basic = profiles.ensure_software_model(s, clock, "Broadcom", "Rally", "Basic")
        for model, monthly in ((PRO, 50), (BASIC, 20)):
            add_entitlement(
                s,
                clock,
                EntitlementCreate(
                    model=model, seats=10, unit_cost=monthly, billing_period="monthly"
                ),
            )
        profile.activity_days_from = clock.now() - timedelta(days=90)
        world = World(db, clock, profile.id, pro.id, basic.id)
    world.set_rule(to_model=BASIC, max_active_days=5, window_days=30)
    return world


def test_light_users_are_proposed_with_the_price_difference(world: World) -> None:
    world.add("light", [(1, 3), (10, 1)])  # 2 active days
    world.add("busy", [(d, 2) for d in range(1, 8)])  # 7 active days
    world.add("old-only", [(40, 5)])  # active only before the window: idle in it
    world.add("no-days")  # activity from an account field only: no intensity
    world.evaluate()
    found = world.downgrades()
    assert set(found) == {"light"}
    cand = found["light"]
    assert (cand.state, cand.target_model_id, cand.active_days) == ("ready", world.basic, 2)
    assert cand.justification == "light_use"
    assert cand.potential_savings == Decimal("360.0000")  # (50 - 20) * 12
    with world.db.sessions() as s:
        [view] = list_candidates(s, now=world.clock.now())
    assert (view.action, view.target_model, view.what) == (
        "downgrade",
        BASIC,
        f"move to {BASIC}",
    )
    assert view.potential_savings == 360.0


def test_the_dry_run_says_what_it_skipped_for_lack_of_data(world: World) -> None:
    world.add("light", [(1, 3)])
    world.add("old-only", [(40, 5)])
    world.add("no-days")
    with world.db.sessions() as s:
        run = rules.downgrade_dry_run(s, world.clock, PRO)
    assert [r.external_id for r in run.selections] == ["light"]
    assert (run.idle, run.no_activity_data, run.annual_saving_per_seat) == (2, 0, 360.0)
    world.covered_since(10)  # days recorded for 10 days only: a 30-day window is unknown
    with world.db.sessions() as s:
        run = rules.downgrade_dry_run(s, world.clock, PRO)
    assert (run.selections, run.no_activity_data) == ([], 3)
    world.evaluate()
    assert world.downgrades() == {}


def test_events_threshold_and_cancel_once_no_longer_light(world: World) -> None:
    world.set_rule(max_events=10)  # and fewer than 5 active days: both must hold
    world.add("few", [(1, 4), (2, 5)])  # 9 events
    world.add("many", [(1, 11)])
    world.evaluate()
    assert set(world.downgrades()) == {"few"}
    with world.db.transaction() as s:
        sub = s.scalars(select(Subscription).filter_by(external_id="few")).one()
        s.add(ActivityDay(subscription_id=sub.id, day=(world.clock.now()).date(), events=3))
    world.evaluate()
    assert world.downgrades()["few"].state == "closed_canceled"


def test_without_an_api_the_downgrade_is_a_task_and_completes_when_the_edition_changed(
    world: World,
) -> None:
    world.add("light", [(1, 1)])
    world.evaluate(can_downgrade=False)
    cand = world.downgrades()["light"]
    assert cand.state == "awaiting_revocation" and BASIC in (cand.reason or "")
    with world.db.transaction() as s:  # a person moved it; the next sync says so
        sub = s.scalars(select(Subscription).filter_by(external_id="light")).one()
        sub.software_model_id, sub.edition = world.basic, "Basic"
    world.evaluate(can_downgrade=False)
    done = world.downgrades()["light"]
    assert done.state == "closed_complete" and done.realised_saving == Decimal("360.0000")


def test_an_idle_seat_is_removed_not_downgraded(world: World) -> None:
    world.set_rule(window_days=90)
    world.add("idle-and-light", [(80, 1)])
    with world.db.transaction() as s:
        sub = s.scalars(select(Subscription).filter_by(external_id="idle-and-light")).one()
        sub.last_activity_at = world.clock.now() - timedelta(days=80)
    world.evaluate()
    with world.db.sessions() as s:
        actions = [c.action for c in s.scalars(select(RemovalCandidate))]
    assert actions == ["remove"]


def test_a_rule_that_cannot_select_anything_is_refused(world: World) -> None:
    with pytest.raises(DowngradeRuleError, match="same edition"):
        world.set_rule(to_model=PRO)
    with pytest.raises(ValueError, match="belong to a downgrade rule"):
        RuleChange(model=PRO, window_days=3)
    with pytest.raises(DowngradeRuleError, match="needs the edition"), world.db.transaction() as s:
        rules.set_rule(
            s,
            world.clock,
            RuleChange(model=BASIC, kind="downgrade", window_days=30, max_active_days=2),
        )
    with world.db.sessions() as s:  # nothing half-written
        assert [r.kind for r in rules.list_rules(s)].count("downgrade") == 1


# --- the property ---------------------------------------------------------------------------

ACCOUNT = st.tuples(
    st.booleans(),  # has activity days at all
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 9)), max_size=6),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    accounts=st.lists(ACCOUNT, min_size=1, max_size=8),
    covered_days=st.one_of(st.none(), st.integers(0, 120)),
    max_active_days=st.integers(1, 8),
    window=st.integers(1, 60),
)
def test_a_downgrade_never_proposes_an_account_without_activity_data(
    world: World,
    accounts: list[tuple[bool, list[tuple[int, int]]]],
    covered_days: int | None,
    max_active_days: int,
    window: int,
) -> None:
    with world.db.transaction() as s:
        s.execute(delete(RemovalCandidate))
        s.execute(delete(Subscription))
    world.set_rule(max_active_days=max_active_days, window_days=window)
    world.covered_since(covered_days)
    now = world.clock.now()
    expected_data: dict[str, bool] = {}
    expected_light: set[str] = set()
    start = (now - timedelta(window)).date()
    for n, (has_days, days) in enumerate(accounts):
        unique = dict(days) if has_days else {}
        world.add(f"a{n}", list(unique.items()))
        in_window = [ago for ago in unique if (now - timedelta(ago)).date() > start]
        covered = covered_days is not None and covered_days >= window
        expected_data[f"a{n}"] = covered and bool(in_window)
        if expected_data[f"a{n}"] and len(in_window) < max_active_days:
            expected_light.add(f"a{n}")
    world.evaluate()
    proposed = set(world.downgrades())
    # never an account without intensity data (no days in the window, or days not covering it)
    assert all(expected_data[a] for a in proposed)
    assert proposed == expected_light  # and exactly the light ones among those with data
    with world.db.sessions() as s:
        run = rules.downgrade_dry_run(s, world.clock, PRO)
    assert {r.external_id for r in run.selections} == proposed
    assert run.no_activity_data + run.idle + len(run.selections) <= len(accounts)
    if covered_days is None or covered_days < window:
        assert run.no_activity_data == len(accounts) and not proposed


def test_old_activity_days_are_pruned_and_the_coverage_moves_up_to_the_cut(world: World) -> None:
    """Recording a run's events deletes the profile's days older than the kept span (400 days,
    or the longest rule window) and moves ``activity_days_from`` to the cut, so a window that
    reaches further back is reported as lacking data rather than counted short."""
    world.add("kept", [(1, 3), (399, 2)])
    world.add("pruned", [(401, 4), (2, 1)])
    world.covered_since(600)
    now = world.clock.now()
    with world.db.transaction() as s:
        profile = s.get_one(IntegrationProfile, world.profile_id)
        activity_days.record_events(s, profile, Counter({("kept", now.date()): 1}), now)
    with world.db.sessions() as s:
        days = s.execute(
            select(Subscription.external_id, ActivityDay.day)
            .join(Subscription, Subscription.id == ActivityDay.subscription_id)
            .order_by(Subscription.external_id, ActivityDay.day)
        ).all()
        start = s.get_one(IntegrationProfile, world.profile_id).activity_days_from
    ages = sorted((external_id, (now.date() - day).days) for external_id, day in days)
    assert ages == [("kept", 0), ("kept", 1), ("kept", 399), ("pruned", 2)]
    assert start is not None and (now - utc(start)).days == activity_days.KEEP_DAYS
    # a rule looking back further than the kept span keeps it all
    world.set_rule(window_days=700)
    world.add("long", [(650, 1)])
    with world.db.transaction() as s:
        profile = s.get_one(IntegrationProfile, world.profile_id)
        assert activity_days.prune(s, profile, now.date()) == 0


def test_a_preview_of_a_change_writes_nothing_and_says_the_money(world: World) -> None:
    """rules.preview_downgrade (what a face shows under its form): the change applied in a
    savepoint rolled back; the saving a year per currency; ``clear`` takes a threshold off."""
    world.add("light", [(1, 3), (10, 1)])  # 2 active days, 4 events
    world.add("no-days")
    change = RuleChange(model=PRO, kind="downgrade", clear=["max_active_days"], max_events=5)
    with world.db.sessions() as s:
        before = len(rules.list_rules(s))
        found = rules.preview_downgrade(s, world.clock, change)
        assert rules.editions_of(s, PRO) == [BASIC]
        fresh = rules.rule_of(s, world.clock, BASIC, "downgrade")  # Basic has none yet
    assert [x.external_id for x in found.selections] == ["light"]
    assert found.currency == "USD" and found.annual == {"USD": 360.0}  # (50 - 20) x 12
    assert found.changed == ["max_active_days", "max_events"] and found.idle == 1
    assert fresh.kind == "downgrade" and fresh.target_model is None
    with world.db.sessions() as s:
        kept = next(r for r in rules.list_rules(s) if r.kind == "downgrade")
        assert (kept.max_active_days, kept.max_events) == (5, None)  # nothing written
        assert len(rules.list_rules(s)) == before  # Basic's downgrade rule was not created
    world.set_rule(clear=["max_active_days"], max_events=5)
    with world.db.sessions() as s:
        kept = next(r for r in rules.list_rules(s) if r.kind == "downgrade")
    assert (kept.max_active_days, kept.max_events) == (None, 5)
    with pytest.raises(DowngradeRuleError, match="what light use is"):
        world.set_rule(clear=["max_events"])
