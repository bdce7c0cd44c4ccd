"""A sync stages only the accounts whose fingerprint changed (migration 0025): an unchanged
re-sync writes no account, a change of any field is detected, gone accounts are still found."""

from __future__ import annotations

import dataclasses
import os
import string
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

import shelfware
from shelfware.connectors.base import AccountRecord
from shelfware.models import Person, Subscription
from shelfware.sync.service import (
    ACCOUNT_FIELDS,
    StoredAccounts,
    _staged_rows,
    account_fingerprint,
    sync_profile,
)
from tests.helpers import published_rally

# --------------------------------------------------------------------------- the fingerprint

texts = st.one_of(st.none(), st.text(max_size=12))
instants = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2990, 1, 1), timezones=st.just(UTC)
    ),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "username": texts,
    "email": texts,
    "display_name": texts,
    "active": st.booleans(),
    "admin": st.booleans(),
    "edition": st.text(min_size=1, max_size=12),
    "created_in_app_at": instants,
    "last_activity_at": instants,
    "product": st.text(min_size=1, max_size=12),
    "group_scoped": st.booleans(),
    "unrecognised": texts,
    "department": texts,
    "cost_center": texts,
}
records = st.builds(
    AccountRecord,
    external_id=st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8),
    **FIELD_VALUES,
)


def test_every_account_field_is_covered() -> None:
    assert set(FIELD_VALUES) == set(ACCOUNT_FIELDS) - {"external_id"}


def stage(record: AccountRecord, stored: StoredAccounts) -> list[tuple[Any, ...]]:
    return _staged_rows(1, [record], "Default", set(), "Product", None, stored)


@settings(max_examples=300, deadline=None)
@given(record=records, field=st.sampled_from(sorted(FIELD_VALUES)), data=st.data())
def test_a_change_of_any_field_is_staged_and_the_same_account_is_not(
    record: AccountRecord, field: str, data: st.DataObject
) -> None:
    (row,) = stage(record, StoredAccounts())
    stored_fingerprint = row[-1]
    # the same account again: not staged, counted unchanged, taken out of the stored ones
    again = StoredAccounts({record.external_id: stored_fingerprint})
    assert stage(record, again) == []
    assert again.unchanged == 1 and again.fingerprints == {}
    # one field changed: staged, unless cleaning makes it the value stored
    staged_value = dict(zip(("run_id", *ACCOUNT_FIELDS), row, strict=False))[field]
    new = data.draw(FIELD_VALUES[field].filter(lambda v: v != staged_value and v is not None))
    changed = dataclasses.replace(record, **{field: new})
    (changed_row,) = stage(changed, StoredAccounts())
    restaged = stage(changed, StoredAccounts({record.external_id: stored_fingerprint}))
    if changed_row[1 + ACCOUNT_FIELDS.index(field)] != staged_value:
        assert restaged == [changed_row]
    else:  # cleaned to the value stored (e.g. a control character taken out): the same
        assert restaged == []


def test_an_account_to_stage_again_and_a_new_account_are_staged() -> None:
    record = AccountRecord("1", username="a", email="a@x.io")
    stored = StoredAccounts({"1": None, "2": 5})
    assert len(stage(record, stored)) == 1
    assert stored.unchanged == 0 and stored.fingerprints == {"2": 5}  # "2" was not listed


def test_the_fingerprint_is_the_same_in_another_process_and_follows_the_salt() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    values = ["1", "a", "a@x.io", None, True, False, "U", at, None, "P", False, None, "Sales", None]
    assert len(values) == len(ACCOUNT_FIELDS)
    code = (
        "import datetime\n"
        "from shelfware.sync.service import account_fingerprint\n"
        f"print(account_fingerprint({values!r}, b'A'))"
    )
    source = str(Path(shelfware.__file__).parents[1])  # this tree's package, not another
    env = {**os.environ, "PYTHONPATH": source}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert int(other.stdout) == account_fingerprint(values, b"A")
    assert account_fingerprint(values, b"A") != account_fingerprint(values, b"-")


# --------------------------------------------------------------------------- in a sync


def stored_rows(db: Any) -> dict[str, tuple[Any, ...]]:
    with db.engine.connect() as conn:
        table = Subscription.__table__
        rows = conn.execute(select(table)).mappings()
        return {
            r["external_id"]: tuple(v for k, v in r.items() if k != "fingerprint") for r in rows
        }


@pytest.mark.store
async def test_an_unchanged_resync_stages_nothing_and_a_changed_account_is_restaged(
    db, keys, clock, rally_factory
):
    sandbox = rally_factory(users=300, seed=12)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    first = await sync_profile(db, keys, clock, "rally")
    assert first.created == first.accounts == 300 and first.unchanged == 0
    before = stored_rows(db)

    clock.advance(timedelta(hours=1))
    unchanged = await sync_profile(db, keys, clock, "rally")
    assert unchanged.unchanged == unchanged.accounts == 300
    assert (unchanged.created, unchanged.updated, unchanged.gone) == (0, 0, 0)
    assert stored_rows(db) == before

    users = sandbox.org.users
    renamed, toggled, vanished = users[5], users[6], users[7]
    renamed.display_name = (renamed.display_name or "") + " Jr"
    toggled.disabled = not toggled.disabled
    users.remove(vanished)
    sandbox.state.reload_users()
    clock.advance(timedelta(hours=1))
    changed = await sync_profile(db, keys, clock, "rally")
    assert changed.unchanged == 297 and changed.updated == 2 and changed.gone == 1
    after = {s.external_id: s for s in subscriptions(db)}
    assert after[str(renamed.object_id)].display_name == renamed.display_name
    assert after[str(toggled.object_id)].active is (not toggled.disabled)
    assert after[str(vanished.object_id)].gone_at is not None

    # it comes back: staged (it was gone), no longer gone; the others stay unchanged
    users.append(vanished)
    users.sort(key=lambda u: u.object_id)
    sandbox.state.reload_users()
    clock.advance(timedelta(hours=1))
    back = await sync_profile(db, keys, clock, "rally")
    assert back.unchanged == 299 and back.updated == 1 and back.gone == 0
    assert {s.external_id: s for s in subscriptions(db)}[str(vanished.object_id)].gone_at is None


@pytest.mark.store
async def test_an_account_whose_person_was_deleted_is_linked_again(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=50, seed=13)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    await sync_profile(db, keys, clock, "rally")
    linked = next(s for s in subscriptions(db) if s.person_id is not None)
    with db.transaction() as s:
        s.execute(delete(Person).where(Person.id == linked.person_id))
    clock.advance(timedelta(hours=1))
    again = await sync_profile(db, keys, clock, "rally")
    assert again.unchanged == again.accounts - 1 and again.updated == 1
    relinked = {s.external_id: s for s in subscriptions(db)}[linked.external_id]
    assert relinked.person_id is not None


def subscriptions(db: Any) -> list[Subscription]:
    with db.sessions() as s:
        return list(s.scalars(select(Subscription)))


@pytest.mark.store
async def test_a_change_of_mapping_code_stages_every_account_again_and_unknown_values_count(
    db, keys, clock, rally_factory, monkeypatch
):
    """Rally's records are fingerprinted raw (before mapping): another mapping code digest
    restages everything (no row kept as the old code mapped it), and an unchanged account with
    a permission Rally's table does not know still counts as unrecognised in every run."""
    from shelfware.connectors.rally import RallyConnector

    sandbox = rally_factory(users=80, seed=14)
    sandbox.org.users[4].permission = "Galactic Overlord"
    sandbox.state.reload_users()
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    first = await sync_profile(db, keys, clock, "rally")
    assert first.unrecognised == 1 and first.created == 80
    before = stored_rows(db)

    clock.advance(timedelta(hours=1))
    again = await sync_profile(db, keys, clock, "rally")
    assert again.unchanged == again.accounts == 80 and again.updated == 0
    assert again.unrecognised == 1 and again.unrecognised_values == first.unrecognised_values

    kit = RallyConnector.source_fingerprint
    assert kit is not None
    monkeypatch.setitem(kit.__dict__, "code", b"another mapping")
    clock.advance(timedelta(hours=1))
    recoded = await sync_profile(db, keys, clock, "rally")
    assert recoded.unchanged == 0 and recoded.accounts == 80
    assert recoded.updated == 80  # the fingerprints; the values are the same
    assert stored_rows(db) == before
