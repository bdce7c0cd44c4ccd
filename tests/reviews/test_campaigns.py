"""Campaigns in the domain: the snapshot, who reviews what, decisions and their evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from shelfware.kit.clock import FrozenClock
from shelfware.kit.db import Database
from shelfware.models import AuditEvent, RemovalCandidate, Subscription
from shelfware.reviews import service as reviews
from shelfware.reviews.schemas import CampaignCreate
from tests.conftest import NOW
from tests.reviews.conftest import Org, by_holder

pytestmark = pytest.mark.store


def create(db: Database, clock: FrozenClock, scope: str, **extra: object) -> int:
    data = CampaignCreate(
        name=extra.pop("name", "Q4"),  # type: ignore[arg-type]
        scope=scope,
        due=NOW + timedelta(days=14),
        owner="ciso@acme.test",
        **extra,  # type: ignore[arg-type]
    )
    with db.transaction() as session:
        return reviews.create_campaign(session, clock, data, actor="cli:test").id


def items(db: Database, campaign: int) -> dict[tuple[str | None, str], reviews.ItemView]:
    with db.sessions() as session:
        return by_holder(reviews.report_rows(session, campaign))


def test_manager_else_model_owner_else_campaign_owner(
    db: Database, clock: FrozenClock, org: Org
) -> None:
    campaign = create(db, clock, "department=sales")
    got = {key: item.reviewer for key, item in items(db, campaign).items()}
    assert got == {
        ("boss@acme.test", "Rally"): "ceo@acme.test",
        ("boss@acme.test", "Roadmunk"): "ceo@acme.test",
        ("ann@acme.test", "Rally"): "boss@acme.test",  # manager by idp id
        ("ann@acme.test", "Roadmunk"): "boss@acme.test",
        ("bob@acme.test", "Rally"): "boss@acme.test",  # manager by login
        ("bob@acme.test", "Roadmunk"): "boss@acme.test",
        ("cat@acme.test", "Rally"): "owner@acme.test",  # no manager: the rule's approver
        ("cat@acme.test", "Roadmunk"): "ciso@acme.test",  # nor an owner: the campaign's
    }  # gone@'s seat is not held: not in scope; dan is in R&D


def test_nobody_reviews_their_own_seat(db: Database, clock: FrozenClock, org: Org) -> None:
    # boss reviews every seat... but their own goes to their manager
    campaign = create(db, clock, "model=Acme Rally Std", reviewer="Boss@acme.test")
    got = {key[0]: item.reviewer for key, item in items(db, campaign).items()}
    assert got["boss@acme.test"] == "ceo@acme.test"
    assert got["ann@acme.test"] == got["cat@acme.test"] == "boss@acme.test"
    # the model owner policy: the owner holds no seat here; the owner's own would move on
    owner = create(db, clock, "profile=roadmunk", reviewer="owner", name="RM")
    assert {i.reviewer for i in items(db, owner).values()} == {"ciso@acme.test"}


def test_snapshot_does_not_follow_later_syncs(db: Database, clock: FrozenClock, org: Org) -> None:
    campaign = create(db, clock, "model=Acme Rally Std")
    before = items(db, campaign)
    with db.transaction() as session:
        session.get_one(Subscription, org.seats[("ann@acme.test", "Rally")]).active = False
    assert items(db, campaign).keys() == before.keys()
    assert len(before) == 5


@pytest.mark.parametrize(
    ("scope", "reviewer", "message"),
    [
        ("model=Nobody", "manager", "no software model"),
        ("profile=nothing", "manager", "no integration profile"),
        ("team=x", "manager", "use model="),
        ("model=Acme Rally Std", "someone", "one person's email"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(
    db: Database, clock: FrozenClock, org: Org, scope: str, reviewer: str, message: str
) -> None:
    with pytest.raises(reviews.ReviewError, match=message), db.transaction() as session:
        reviews.create_campaign(
            session,
            clock,
            CampaignCreate(
                name="x",
                scope=scope,
                due=NOW + timedelta(days=1),
                reviewer=reviewer,
                owner="o@acme.test",
            ),
        )
    with db.sessions() as session:
        assert reviews.list_campaigns(session) == []
    with pytest.raises(reviews.ReviewError, match="has passed"), db.transaction() as session:
        reviews.create_campaign(
            session,
            clock,
            CampaignCreate(
                name="x", scope="model=1", due=NOW - timedelta(days=1), owner="o@a.test"
            ),
        )


def test_decisions_revoke_keep_reassign_and_their_evidence(
    db: Database, clock: FrozenClock, org: Org
) -> None:
    campaign = create(db, clock, "department=sales")
    got = items(db, campaign)
    ann_rally, ann_rm = got[("ann@acme.test", "Rally")], got[("ann@acme.test", "Roadmunk")]
    bob_rally = got[("bob@acme.test", "Rally")]
    with db.transaction() as session:
        with pytest.raises(reviews.ReviewError, match="needs a reason"):
            reviews.decide(session, clock, campaign, ann_rally.id, "boss@acme.test", "revoke")
        done = reviews.decide(
            session, clock, campaign, ann_rally.id, "boss@acme.test", "revoke", reason="moved team"
        )
        task = reviews.decide(
            session, clock, campaign, ann_rm.id, "boss@acme.test", "revoke", reason="left project"
        )
        kept = reviews.decide(session, clock, campaign, bob_rally.id, "boss@acme.test", "keep")
        moved = reviews.decide(
            session,
            clock,
            campaign,
            got[("bob@acme.test", "Roadmunk")].id,
            "boss@acme.test",
            "reassign",
            to="cat@acme.test",
        )
    assert (done.decision, done.outcome) == ("revoke", "pending")
    assert (task.outcome, kept.decision, moved.reviewer) == ("task", "keep", "cat@acme.test")
    with db.sessions() as session:
        cands = {c.subscription_id: c for c in session.scalars(select(RemovalCandidate))}
        events = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    ready = cands[org.seats[("ann@acme.test", "Rally")]]
    assert (ready.state, ready.rule_id, ready.justification) == (
        "ready",
        None,
        "revoked in an access review",
    )  # no rule: no notice to the user
    manual = cands[org.seats[("ann@acme.test", "Roadmunk")]]
    assert manual.state == "awaiting_revocation" and "Roadmunk" in (manual.reason or "")
    assert events.count("review.revoke") == 2 and "review.keep" in events
    assert "review.reassigned" in events and "review.campaign_created" in events
    # a revoke stands; a keep may still become a revoke
    with pytest.raises(reviews.ReviewError, match="that stands"), db.transaction() as session:
        reviews.decide(session, clock, campaign, ann_rally.id, "boss@acme.test", "keep")
    with db.transaction() as session:
        again = reviews.decide(
            session, clock, campaign, bob_rally.id, "boss@acme.test", "revoke", reason="no need"
        )
    assert again.decision == "revoke"
    # the task is done once the seat is gone (the next sync closes the candidate)
    with db.transaction() as session:
        from shelfware.models import CandidateState
        from shelfware.reclamation import states

        clock.advance(timedelta(days=1))
        cand = session.get_one(RemovalCandidate, manual.id)
        states.move(session, clock, cand, CandidateState.CLOSED_COMPLETE, why="seat gone")
    item = items(db, campaign)[("ann@acme.test", "Roadmunk")]
    assert (item.outcome, item.outcome_at) == ("done", NOW + timedelta(days=1))


def test_only_ones_own_items_never_ones_own_seat(
    db: Database, clock: FrozenClock, org: Org
) -> None:
    campaign = create(db, clock, "department=sales")
    got = items(db, campaign)
    ann = got[("ann@acme.test", "Rally")]  # boss reviews it
    boss = got[("boss@acme.test", "Rally")]  # ceo reviews it
    with db.sessions() as session:
        mine = reviews.my_items(session, campaign, "boss@acme.test")
        assert {i.holder for i in mine} == {"ann@acme.test", "bob@acme.test"}
        assert reviews.my_items(session, campaign, None) == []
    for reviewer, item in (
        ("ceo@acme.test", ann),
        ("cat@acme.test", ann),
        ("boss@acme.test", boss),
    ):
        with pytest.raises(reviews.NotYourItem), db.transaction() as session:
            reviews.decide(session, clock, campaign, item.id, reviewer, "keep")
    # nor can an item be handed to its holder
    with pytest.raises(reviews.ReviewError, match="own seat"), db.transaction() as session:
        reviews.decide(
            session, clock, campaign, ann.id, "boss@acme.test", "reassign", to="ann@acme.test"
        )


def test_bulk_for_one_person_and_closed_campaigns_are_immutable(
    db: Database, clock: FrozenClock, org: Org
) -> None:
    campaign = create(db, clock, "department=sales")
    with db.transaction() as session:
        done = reviews.decide_for_holder(
            session, clock, campaign, "ANN@acme.test", "boss@acme.test", "keep", reason="ok"
        )
        assert len(done) == 2
        with pytest.raises(reviews.ReviewNotFound):
            reviews.decide_for_holder(
                session, clock, campaign, "ann@acme.test", "boss@acme.test", "keep"
            )
        reviews.close_campaign(session, clock, campaign, actor="cli:test")
    bob = items(db, campaign)[("bob@acme.test", "Rally")]
    with pytest.raises(reviews.CampaignClosed), db.transaction() as session:
        reviews.decide(session, clock, campaign, bob.id, "boss@acme.test", "keep")
    with db.sessions() as session:
        progress = {p.reviewer: (p.items, p.decided) for p in reviews.progress(session, campaign)}
    assert progress["boss@acme.test"] == (4, 2)
