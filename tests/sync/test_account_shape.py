"""The account's columns are derived from the record type the connectors produce."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from shelfware.connectors.base import AccountRecord
from shelfware.kit.db import driver_instant
from shelfware.models import StagedAccount, Subscription
from shelfware.sync.service import (
    ACCOUNT_FIELDS,
    STAGED_COLUMNS,
    STAGED_INSTANTS,
    TRACKED_FIELDS,
    _staged_rows,
)


def test_staging_and_subscription_hold_every_account_field() -> None:
    assert tuple(f.name for f in dataclasses.fields(AccountRecord)) == ACCOUNT_FIELDS
    assert set(STAGED_COLUMNS) == set(StagedAccount.__table__.columns.keys())
    assert set(ACCOUNT_FIELDS) <= set(Subscription.__table__.columns.keys())
    assert {STAGED_COLUMNS[i] for i in STAGED_INSTANTS} == {
        "created_in_app_at",
        "last_activity_at",
    }
    # the key is matched, activity only moves forward: neither is overwritten as "changed"
    assert "external_id" not in TRACKED_FIELDS and "last_activity_at" not in TRACKED_FIELDS
    assert {"software_model_id", "person_id", "email", "active"} <= set(TRACKED_FIELDS)


def test_staged_rows_follow_the_record_and_keep_the_first_of_a_repeated_account() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    page = [
        AccountRecord("1", username="a", email="a@x.io", created_in_app_at=at),
        AccountRecord(
            "2",
            edition="Pro",
            last_activity_at=at,
            product="Zoom",
            group_scoped=True,
            unrecognised="unknown role 'X'",
            department="Sales",
        ),
        AccountRecord("1", username="again"),
    ]
    rows = _staged_rows(7, page, "Unlimited", set(), "Rally")
    assert [dict(zip(STAGED_COLUMNS, row, strict=True)) for row in rows] == [
        {
            "run_id": 7,
            "external_id": "1",
            "username": "a",
            "email": "a@x.io",
            "display_name": None,
            "active": True,
            "admin": False,
            "edition": "Unlimited",
            "created_in_app_at": at,
            "last_activity_at": None,
            "product": "Rally",
            "group_scoped": False,
            "unrecognised": None,
            "department": None,
            "cost_center": None,
            "fingerprint": rows[0][-1],
        },
        {
            "run_id": 7,
            "external_id": "2",
            "username": None,
            "email": None,
            "display_name": None,
            "active": True,
            "admin": False,
            "edition": "Pro",
            "created_in_app_at": None,
            "last_activity_at": at,
            "product": "Zoom",
            "group_scoped": True,
            "unrecognised": "unknown role 'X'",
            "department": "Sales",
            "cost_center": None,
            "fingerprint": rows[1][-1],
        },
    ]


def test_staged_rows_in_the_driver_form_differ_only_in_their_instants() -> None:
    """Built for `bulk_insert` in one pass: each instant as the driver stores it, the same
    fingerprint (taken from the values before they were converted)."""
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    page = [AccountRecord("1", created_in_app_at=at, last_activity_at=None), AccountRecord("2")]
    plain = _staged_rows(7, page, "Unlimited", set(), "Rally")
    for dialect, stored in (
        ("sqlite", "2026-01-02 01:04:05.000006"),
        ("postgresql", datetime(2026, 1, 2, 1, 4, 5, 6)),
    ):
        rows = _staged_rows(
            7, page, "Unlimited", set(), "Rally", None, None, driver_instant(dialect)
        )
        created = STAGED_COLUMNS.index("created_in_app_at")
        assert [row[created] for row in rows] == [stored, None]
        assert [row[:created] + row[created + 1 :] for row in rows] == [
            row[:created] + row[created + 1 :] for row in plain
        ]
