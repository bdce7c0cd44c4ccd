"""Profile lifecycle: draft -> validate -> publish, and what publishing needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from shelfware.connectors.base import CheckResult, ValidationReport
from shelfware.models import ProfileStatus, ReclamationRule, SoftwareModel
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate

pytestmark = pytest.mark.store


def create(db, keys, clock, **kw):  # type: ignore[no-untyped-def]
    data = {
        "kind": "rally",
        "name": "r",
        "url": "https://rally1.rallydev.com/slm/webservice",
        "secrets": {"api_key": "_k"},
    } | kw
    with db.transaction() as s:
        return profiles.create_profile(s, keys, clock, ProfileCreate(**data)).id


PASS = ValidationReport(checks=(CheckResult("download", True),))
FAIL = ValidationReport(checks=(CheckResult("download", False, "credential rejected (401)"),))


@pytest.mark.parametrize(
    "url",
    ["http://rally.example.com/slm", "ftp://x/y", "rally1.rallydev.com", "https://u:p@h.example"],
)
def test_bad_connection_urls_are_refused(db, keys, clock, url):
    with pytest.raises(profiles.ProfileError):
        create(db, keys, clock, url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/slm/webservice",
        "http://localhost/x",
        "http://[::1]:9/x",
        "https://eu1.rallydev.com/slm/webservice",
        "https://eu1.rallydev.com/slm/webservice/",
    ],
)
def test_https_and_loopback_urls_are_accepted(db, keys, clock, url):
    profile_id = create(db, keys, clock, url=url)
    with db.sessions() as s:
        p = profiles.get_profile(s, "r")
        assert p.id == profile_id
        assert p.url == url.rstrip("/")  # stored as given, without a trailing slash
        assert p.status == ProfileStatus.DRAFT


def test_defaults_and_duplicate_name(db, keys, clock):
    secret = "_plaintext-api-key-4321"  # long enough never to appear in base64 by chance
    create(db, keys, clock, url=None, secrets={"api_key": secret})  # the default URL
    with db.sessions() as s:
        p = profiles.get_profile(s, "r")
        assert p.url == "https://rally1.rallydev.com/slm/webservice"
        assert p.status == ProfileStatus.DRAFT
        assert p.analyze_activity_from == clock.now() - timedelta(days=60)
        assert secret not in p.credential.ciphertext
    with pytest.raises(profiles.ProfileError, match="already exists"):
        create(db, keys, clock)
    with pytest.raises(Exception, match=r"unknown|no connector"):
        create(db, keys, clock, name="other", kind="nope")


def test_publish_needs_a_passing_validation_since_the_last_change(db, keys, clock):
    create(db, keys, clock)
    with db.transaction() as s:
        p = profiles.get_profile(s, "r")
        with pytest.raises(profiles.ProfileError, match="never been validated"):
            profiles.publish_profile(s, clock, p)
        profiles.record_validation(s, clock, p, FAIL)
        with pytest.raises(profiles.ProfileError, match="failed"):
            profiles.publish_profile(s, clock, p)
        clock.advance(timedelta(seconds=1))
        profiles.record_validation(s, clock, p, PASS)
        clock.advance(timedelta(seconds=1))
        profiles.set_credential(s, keys, clock, p, {"api_key": "_new"})
        with pytest.raises(profiles.ProfileError, match="changed after the last validation"):
            profiles.publish_profile(s, clock, p)
        clock.advance(timedelta(seconds=1))
        profiles.record_validation(s, clock, p, PASS)
        profiles.publish_profile(s, clock, p)
        assert p.status == ProfileStatus.PUBLISHED
        assert p.next_refresh_at == clock.now()
        assert profiles.secrets_of(p, keys) == {"api_key": "_new"}
    with db.sessions() as s:
        model = s.scalars(select(SoftwareModel)).one()
        assert (model.publisher, model.product, model.edition) == ("Broadcom", "Rally", "Unlimited")
        rule = s.scalars(select(ReclamationRule)).one()
        assert (rule.threshold_days, rule.exclude_admins, rule.new_account_grace) == (
            60,
            True,
            True,
        )


def test_turning_activity_off_returns_a_published_profile_to_draft(db, keys, clock):
    create(db, keys, clock)
    with db.transaction() as s:
        p = profiles.get_profile(s, "r")
        profiles.record_validation(s, clock, p, PASS)
        profiles.publish_profile(s, clock, p)
        changes = profiles.set_processes(s, clock, p, reclaim=False)
        assert changes == ["reclaim subscriptions off"] and p.status == ProfileStatus.PUBLISHED
        changes = profiles.set_processes(s, clock, p, activity=False)
        assert p.status == ProfileStatus.DRAFT
        assert any("draft" in c for c in changes)
