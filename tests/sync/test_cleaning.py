"""Vendor values are cleaned once before staging, on SQLite and PostgreSQL: a NUL, a
20,000-character name or a date in the year 9999 never fails a sync; the run record counts what
was cleaned per field; an identity provider's people and group names are cleaned the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shelfware.connectors.base import AccountRecord, ActivityRecord, PersonRecord
from shelfware.kit.text import Cleaner
from shelfware.models import Person, PersonGroup, Subscription
from shelfware.profiles import service as profiles
from shelfware.sandbox.hostile import LONG_NAME
from shelfware.sync.cleaning import ACCOUNT_LENGTHS, clean_account, clean_person
from shelfware.sync.service import STAGED_COLUMNS, _staged_rows, sync_profile
from tests.connectors.test_okta import Okta, publish_okta
from tests.directory.conftest import okta  # noqa: F401
from tests.helpers import last_run, published_rally

pytestmark = pytest.mark.store


async def test_a_hostile_vendor_syncs_and_the_run_counts_what_was_cleaned(
    db, keys, clock, rally_factory
):  # type: ignore[no-untyped-def]
    sandbox = rally_factory(users=60, seed=11, faults="hostile=1")
    hostile = sandbox.state.hostile
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    summary = await sync_profile(db, keys, clock, "rally")  # today: fails on PostgreSQL

    assert summary.status == "succeeded" and summary.accounts == 60
    assert summary.cleaned == {
        "display_name.control": 2,  # NUL; escape sequences
        "display_name.truncated": 1,  # 20,000 characters
        "email.control": 1,  # CR/LF
        "last_activity_at.out_of_range": 2,  # years 1500 and 9999
        "username.control": 2,  # NUL; escape sequences
    }
    assert last_run(db).cleaned == summary.cleaned
    with db.sessions() as s:
        [run] = profiles.list_runs(s, None)
        assert run.cleaned == summary.cleaned  # what the API and the web show
        subs = {x.external_id: x for x in s.scalars(select(Subscription))}
    got = {key: subs[str(user.object_id)] for key, user in hostile.items()}
    assert (got["nul"].display_name, got["nul"].username) == ("NulName", "nuluser@example.com")
    assert got["long_name"].display_name == LONG_NAME[: ACCOUNT_LENGTHS["display_name"]]
    assert got["ansi"].display_name is not None and "\x1b" not in got["ansi"].display_name
    assert got["email_crlf"].email == "victim@example.comBcc: attacker@evil.example"
    assert got["year_1500"].last_activity_at is None and got["year_9999"].last_activity_at is None
    # what is not control text is kept as the vendor sent it (shown safely by each face)
    assert got["markup"].username == "[/bold]x"
    assert got["slack"].display_name == "<https://evil.example|Keep my seat>"
    assert got["csv_formula"].display_name.startswith("=HYPERLINK(")

    # unchanged data: a second sync neither maps nor cleans (nothing counted) and writes no
    # row; the cleaning counts cover the accounts a run stages
    clock.advance(timedelta(minutes=5))
    again = await sync_profile(db, keys, clock, "rally")
    assert again.unchanged == again.accounts == 60
    assert again.cleaned == {} and again.updated == again.created == 0


async def test_people_and_groups_from_the_identity_provider_are_cleaned(
    db,
    keys,
    clock,
    okta: Okta,  # noqa: F811
):  # type: ignore[no-untyped-def]
    org = okta.org
    person = org.users[3]
    person.display_name = "Ann\x00" + "e" * 20_000
    person.first_name = "Ann\x00"
    group = next(g for g in org.groups if g.members)
    group.name = "Sales\x00" + "s" * 500
    await publish_okta(db, keys, clock, okta)
    summary = await sync_profile(db, keys, clock, "okta")  # today: fails on PostgreSQL

    assert summary.cleaned["person.display_name.control"] == 1
    assert summary.cleaned["person.display_name.truncated"] == 1
    assert summary.cleaned["group.control"] >= 1 and summary.cleaned["group.truncated"] >= 1
    with db.sessions() as s:
        stored = s.scalar(select(Person).where(Person.idp_user_id == person.id))
        assert stored is not None and stored.display_name is not None
        assert stored.display_name.startswith("Anneee") and len(stored.display_name) == 300
        names = set(s.scalars(select(PersonGroup.name)))
    assert "Sales" + "s" * 295 in names


def test_staged_rows_clean_values_and_leave_out_an_unstorable_id() -> None:
    cleaner = Cleaner()
    at = datetime(2026, 1, 2, tzinfo=UTC)
    page = [
        AccountRecord("1", username="a\x00b", display_name="d" * 301, last_activity_at=at),
        AccountRecord("2\x00", username="x"),  # the id addresses the account: never changed
        AccountRecord("3" * 201, username="y"),
        AccountRecord("4", created_in_app_at=datetime(1, 1, 1, tzinfo=UTC), edition="E\x1b"),
        AccountRecord("5", last_activity_at=datetime(2026, 1, 2)),  # naive: read as UTC
    ]
    rows = [
        dict(zip(STAGED_COLUMNS, r, strict=True))
        for r in _staged_rows(7, page, "U", set(), "P", cleaner)
    ]
    assert [r["external_id"] for r in rows] == ["1", "4", "5"]
    assert rows[2]["last_activity_at"] == at
    assert (rows[0]["username"], len(rows[0]["display_name"])) == ("ab", 300)
    assert rows[0]["last_activity_at"] == at
    assert (rows[1]["created_in_app_at"], rows[1]["edition"]) == (None, "E")
    assert cleaner.as_dict() == {
        "created_in_app_at.out_of_range": 1,
        "display_name.truncated": 1,
        "edition.control": 1,
        "external_id.unusable": 2,
        "username.control": 1,
    }


def test_a_re_read_account_and_people_are_cleaned_alike() -> None:
    record = AccountRecord(
        "9", username="u\x00", last_activity_at=datetime(9999, 1, 1, tzinfo=UTC), admin=True
    )
    cleaned = clean_account(record)
    assert (cleaned.username, cleaned.last_activity_at, cleaned.admin) == ("u", None, True)
    assert clean_account(AccountRecord("9", username="fine")) == AccountRecord("9", username="fine")
    cleaner = Cleaner()
    person = clean_person(
        cleaner,
        PersonRecord(
            "p\x00", "a@x.io\r\n", status="ACTIVE\x00" + "X" * 40, groups=("G\x00", "\x00")
        ),
    )
    assert (person.external_id, person.email, person.status) == ("p", "a@x.io", "ACTIVE" + "X" * 24)
    assert person.groups == ("G",)
    assert cleaner.counts["group.control"] == 2 and cleaner.counts["person.status.truncated"] == 1


def test_activity_events_outside_the_range_are_left_out() -> None:
    from shelfware.sync.cleaning import clean_activity

    cleaner = Cleaner()
    assert clean_activity(cleaner, ActivityRecord("1", datetime(9999, 1, 1, tzinfo=UTC))) is None
    assert (
        clean_activity(cleaner, ActivityRecord("1\x00", datetime(2026, 1, 1, tzinfo=UTC))) is None
    )
    ok = datetime(2026, 1, 1, tzinfo=UTC)
    assert clean_activity(cleaner, ActivityRecord("1", ok)) == ok
    assert cleaner.as_dict() == {"activity.at.out_of_range": 1, "activity.external_id.unusable": 1}


def test_a_failure_quoting_the_vendor_is_stored_on_one_line_without_control_characters() -> None:
    from shelfware.sync.service import _describe

    said = _describe(ValueError("page 3 failed: vendor said 'bad\x00name'\r\n\x1b[31mretry\x1b[0m"))
    assert said == "page 3 failed: vendor said 'badname' [31mretry[0m"


def test_a_persons_department_and_cost_centre_are_cleaned() -> None:
    """Identity-provider text like any other: control characters out, cut to the column."""
    cleaner = Cleaner()
    person = clean_person(
        cleaner,
        PersonRecord("p", "a@x.io", department="Eng\x00ineering", cost_center="C" * 150),
    )
    assert (person.department, person.cost_center) == ("Engineering", "C" * 100)
    assert cleaner.counts["person.department.control"] == 1
    assert cleaner.counts["person.cost_center.truncated"] == 1
