"""The services the faces call (and the API will), on the real store: SQLite, and PostgreSQL
when SHELFWARE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from sqlalchemy import select

from shelfware.kit.crypto import KeyRing
from shelfware.licensing import service as licensing
from shelfware.licensing.schemas import EntitlementCreate
from shelfware.models import AuditEvent, Credential, ReclamationRule
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from shelfware.reclamation import rules
from shelfware.reclamation.schemas import ReclaimRequest, RuleChange
from shelfware.subscriptions import service as subscriptions
from shelfware.subscriptions.schemas import SubscriptionQuery

pytestmark = pytest.mark.store

MODEL = "Broadcom Rally Unlimited"


@pytest.fixture
def seeded(db, keys, clock):  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        profiles.create_profile(
            session,
            keys,
            clock,
            ProfileCreate(kind="rally", name="r", secrets={"api_key": "k-123"}),
        )
    return db


def audit(db, action):  # type: ignore[no-untyped-def]
    with db.sessions() as session:
        return [
            e.detail for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        ]


def test_set_rule_changes_only_what_is_named_and_audits_it(seeded, clock):
    with seeded.transaction() as session:
        view, changes = rules.set_rule(
            session, clock, RuleChange(model=MODEL, threshold_days=30, exclude_users=[" A@x.io "])
        )
    assert view.threshold_days == 30 and view.excluded_users == ["a@x.io"]
    assert changes == {"threshold_days": [60, 30], "excluded_users": [[], ["a@x.io"]]}
    with seeded.sessions() as session:
        [listed] = rules.list_rules(session)
        stored = session.scalars(select(ReclamationRule)).one()
    assert listed == view and listed["software_model"] == MODEL
    assert stored.threshold_days == 30 and stored.exclude_admins is True
    assert audit(seeded, "rule.set") == [{"model": MODEL, "kind": "remove", "changes": changes}]


@pytest.mark.parametrize(
    "change",
    [
        {"threshold_days": 99999999999999},
        {"threshold_days": 0},
        {"auto_reclaim_days": -1},
        {"exclude_users": ["a\x00b"]},
        {"exclude_domains": ["   "]},
        {"model": ""},
        {"unknown": 1},
    ],
)
def test_rule_changes_out_of_range_never_reach_the_store(change):
    with pytest.raises(ValidationError):
        RuleChange(**{"model": MODEL, **change})


def test_rotate_keys_reencrypts_and_audits(seeded, keys, clock):
    ring = keys.with_new_key()
    with seeded.transaction() as session:
        done = profiles.rotate_keys(session, clock, ring)
    assert (done.credentials, done.keys) == (1, 2)
    with seeded.sessions() as session:
        cipher = session.scalars(select(Credential.ciphertext)).one()
    assert json.loads(Fernet(ring.keys[0]).decrypt(cipher.encode())) == {"api_key": "k-123"}
    with pytest.raises(Exception, match="cannot be decrypted"):
        KeyRing(keys.keys).decrypt(cipher)  # the old key alone no longer opens it
    assert audit(seeded, "keys.rotate") == [{"credentials": 1, "keys": 2}]


def test_subscriptions_of_an_unknown_profile_is_an_error_not_an_empty_list(seeded):
    with seeded.sessions() as session:
        assert subscriptions.list_subscriptions(session, SubscriptionQuery()) == []
        assert subscriptions.list_subscriptions(session, SubscriptionQuery(profile="r")) == []
        with pytest.raises(profiles.ProfileNotFound, match="nope"):
            subscriptions.list_subscriptions(session, SubscriptionQuery(profile="nope"))
    with pytest.raises(ValidationError):
        SubscriptionQuery(profile="a\nb")


def test_entitlement_bounds(seeded, clock):
    top = EntitlementCreate(model=MODEL, seats=10_000_000, unit_cost="1000000.0000")  # type: ignore[arg-type]
    with seeded.transaction() as session:
        added = licensing.add_entitlement(session, clock, top)
    assert added.seats == 10_000_000 and added.unit_cost == Decimal(1_000_000)
    assert added.software_model == MODEL
    with seeded.sessions() as session:
        [row] = licensing.reconcile(session, clock.now())
    assert row.rights_owned == 10_000_000
    for bad in (
        {"seats": 10_000_001},
        {"seats": -1},
        {"unit_cost": "1e308"},
        {"unit_cost": "NaN"},
        {"unit_cost": "Infinity"},
        {"unit_cost": "0.00001"},
        {"currency": "US\x1f"},
        {"contract_ref": "x" * 201},
        {"term_start": "0001-01-01"},
    ):
        with pytest.raises(ValidationError):
            EntitlementCreate(**{"model": MODEL, "seats": 1, "unit_cost": "1", **bad})


def test_reclaim_request_ids_in_range():
    assert ReclaimRequest(ids=[1, 2**63 - 1]).ids == [1, 2**63 - 1]
    for bad in ([0], [2**63], [-5]):
        with pytest.raises(ValidationError):
            ReclaimRequest(ids=bad)
    with pytest.raises(ValidationError, match="all-ready"):
        ReclaimRequest()


@pytest.mark.parametrize(
    "url",
    [
        "https://host:99999/x",
        "https://host:0/x",
        "https://[::1:99999/",
        "https://host/\x00",
        "https://ho st/",
        "https://u:p@host/",
        "http://10.0.0.1/",
    ],
)
def test_connection_urls_out_of_range(url):
    with pytest.raises(profiles.ProfileError):
        profiles.check_connection_url(url)


def test_connection_urls_in_range():
    assert profiles.check_connection_url("https://host:65535/x/") == "https://host:65535/x"
    assert profiles.check_connection_url("http://127.0.0.1:1/") == "http://127.0.0.1:1"
