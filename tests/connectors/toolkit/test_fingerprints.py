"""Raw-record fingerprints (toolkit/fingerprints.py): a change of any declared field, of the
seed or of the code changes the fingerprint; an unchanged record is neither mapped nor
staged; repeated ids are left out; Rally's mapping reads only the fields it declares."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shelfware
from shelfware.connectors.base import AccountPage, AccountRecord, KnownAccounts
from shelfware.connectors.rally import RALLY_ACCOUNT_FIELDS, RallyConnector, map_account
from shelfware.connectors.toolkit import RecordError, SourceFingerprint, source_digest
from shelfware.sandbox.org import generate_org
from shelfware.sandbox.rally import user_record

FIELDS = ("id", "name", "active", "score", "tags")
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)
raws = st.fixed_dictionaries({"id": st.integers(1, 10**9)}).flatmap(
    lambda base: st.fixed_dictionaries(
        {**{k: st.just(v) for k, v in base.items()}, **{f: json_values for f in FIELDS[1:]}}
    )
)


def mapping(raw: Any) -> AccountRecord:
    if not isinstance(raw, dict):
        raise RecordError(f"a record is not an object: {type(raw).__name__}")
    return AccountRecord(str(raw["id"]), username=repr(raw.get("name")))


KIT = SourceFingerprint(FIELDS, key=lambda raw: str(raw["id"]), mapping=mapping)


@settings(max_examples=300, deadline=None)
@given(raw=raws, field=st.sampled_from(FIELDS[1:]), new=json_values)
def test_a_change_of_any_declared_field_changes_the_fingerprint(
    raw: dict[str, Any], field: str, new: Any
) -> None:
    before = KIT.fingerprint(raw, b"seed")
    changed = {**raw, field: new}
    if repr(new) != repr(raw[field]):  # -0.0 and 0.0, 1 and True: told apart
        assert KIT.fingerprint(changed, b"seed") != before
    # the vendor's key order, undeclared fields and absent-vs-null do not count
    reordered = dict(reversed(list(raw.items())))
    assert KIT.fingerprint({**reordered, "_ref": "x"}, b"seed") == before
    assert KIT.fingerprint({k: v for k, v in raw.items() if v is not None}, b"seed") == before
    # another seed (how values are written, the code) is another fingerprint
    assert KIT.fingerprint(raw, b"seed2") != before


def test_true_and_one_and_text_and_number_are_told_apart() -> None:
    prints = {
        KIT.fingerprint({"id": 1, "name": value}, b"")
        for value in (True, 1, "1", 1.0, None, "None", [1], {"1": 1})
    }
    assert len(prints) == 8


def test_the_fingerprint_is_the_same_in_another_process() -> None:
    raw = {"id": 7, "name": "Zoë \x00", "active": True, "score": 1.5, "tags": ["a", {"b": None}]}
    code = (
        "from tests.connectors.toolkit.test_fingerprints import KIT\n"
        f"print(KIT.fingerprint({raw!r}, KIT.code))"
    )
    root = Path(shelfware.__file__).parents[2]  # this tree (its package and its tests)
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    assert int(other.stdout) == KIT.fingerprint(raw, KIT.code)


def test_the_code_digest_covers_the_mapping_module_and_the_kit() -> None:
    assert KIT.code.endswith(
        source_digest(__name__, "shelfware.connectors.toolkit", "shelfware.connectors.base")
    )
    assert source_digest("shelfware.connectors.rally") != source_digest("shelfware.connectors.okta")
    assert RallyConnector.source_fingerprint is not None
    assert RallyConnector.source_fingerprint.code != KIT.code  # its own module is covered


def test_without_known_accounts_every_record_is_mapped() -> None:
    page = KIT.map_page([{"id": 1}, {"id": 1}, {"id": 2}], None)
    assert [r.external_id for r in page] == ["1", "1", "2"] and not isinstance(page, AccountPage)


def test_an_unchanged_record_is_not_mapped_and_the_others_carry_their_fingerprint() -> None:
    calls: list[Any] = []

    def counting(raw: Any) -> AccountRecord:
        calls.append(raw["id"])
        return mapping(raw)

    kit = SourceFingerprint(FIELDS, key=lambda raw: str(raw["id"]), mapping=counting)
    first = kit.map_page([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], KnownAccounts())
    assert isinstance(first, AccountPage) and len(first.fingerprints) == 2
    stored: dict[str, int | None] = {
        r.external_id: f for r, f in zip(first, first.fingerprints, strict=True)
    }
    stored["3"] = None  # to be staged again whatever it is
    stored["4"] = 99  # not listed again: left in `fingerprints` (gone)
    calls.clear()

    known = KnownAccounts(stored)
    page = kit.map_page(
        [
            {"id": 1, "name": "a"},  # unchanged
            {"id": 2, "name": "B"},  # changed
            {"id": 3, "name": "c"},  # stored without a fingerprint
            {"id": 5, "name": "e"},  # new
            {"id": 2, "name": "b"},  # listed again: the first one wins
        ],
        known,
    )
    assert isinstance(page, AccountPage)
    assert [r.external_id for r in page] == ["2", "3", "5"] and calls == [2, 3, 5]
    assert page.fingerprints == [
        kit.fingerprint(raw, known.seed + kit.code)  # the page loop computes the same
        for raw in ({"id": 2, "name": "B"}, {"id": 3, "name": "c"}, {"id": 5, "name": "e"})
    ]
    assert known.skipped == 1 and set(known.fingerprints) == {"2", "3", "4"}
    assert known.seen == {"1", "2", "3", "5"}


def test_a_record_that_is_not_an_object_fails_with_the_mappings_error() -> None:
    with pytest.raises(RecordError, match="not an object: list"):
        KIT.map_page([{"id": 1}, [1, 2]], KnownAccounts())


# --------------------------------------------------------------------------- Rally's declaration


def rally_raws() -> list[dict[str, Any]]:
    org = generate_org(400, 5, datetime(2026, 11, 1, tzinfo=UTC))
    return [
        {
            **user_record(user),
            "_ref": f"https://x/user/{user.object_id}",
            "_type": "User",
            "Unknown": "x",
        }
        for user in org.users
    ]


def test_rallys_mapping_reads_only_the_fields_it_declares() -> None:
    """Mapping a record cut down to the declared fields gives the same account: a field the
    mapping read without declaring it would escape the fingerprint."""
    for raw in rally_raws():
        declared = {k: raw[k] for k in RALLY_ACCOUNT_FIELDS if k in raw}
        assert map_account(declared) == map_account(raw)


def test_rallys_fingerprint_follows_every_declared_field() -> None:
    kit = RallyConnector.source_fingerprint
    assert kit is not None and kit.fields == RALLY_ACCOUNT_FIELDS
    raw = rally_raws()[3]
    before = kit.fingerprint(raw, b"")
    for name in RALLY_ACCOUNT_FIELDS:
        other = not raw[name] if isinstance(raw[name], bool) else f"{raw[name]}x"
        assert kit.fingerprint({**raw, name: other}, b"") != before, name


# --------------------------------------------------------------------------- several accounts


def licenses(raw: Any) -> list[AccountRecord]:
    return [AccountRecord(f"{raw['id']}:{sku}") for sku in raw.get("skus") or []]


MANY = SourceFingerprint(
    ("id", "skus"),
    None,
    licenses,
    keys=lambda raw: [f"{raw['id']}:{sku}" for sku in raw.get("skus") or []],
)


def test_a_record_of_several_accounts_is_skipped_only_when_all_are_stored_unchanged() -> None:
    first = MANY.map_page(
        [{"id": 1, "skus": ["a", "b"]}, {"id": 2, "skus": ["a"]}], KnownAccounts()
    )
    assert isinstance(first, AccountPage)
    assert [r.external_id for r in first] == ["1:a", "1:b", "2:a"]
    assert first.fingerprints[0] == first.fingerprints[1] != first.fingerprints[2]
    stored: dict[str, int | None] = {
        r.external_id: f for r, f in zip(first, first.fingerprints, strict=True)
    }
    stored["2:a"] = None  # to be staged again
    known = KnownAccounts(dict(stored))
    page = MANY.map_page(
        [{"id": 1, "skus": ["a", "b"]}, {"id": 2, "skus": ["a"]}, {"id": 3, "skus": []}], known
    )
    assert [r.external_id for r in page] == ["2:a"] and known.skipped == 2
    assert set(known.fingerprints) == {"2:a"}
    # a license removed: the record is mapped again, the removed account left for gone
    known = KnownAccounts(dict(stored))
    page = MANY.map_page([{"id": 1, "skus": ["a"]}], known)
    assert [r.external_id for r in page] == ["1:a"] and page.fingerprints[0] != stored["1:a"]
    assert known.skipped == 0 and "1:b" in known.fingerprints


def test_a_bound_declaration_covers_its_context_and_run_and_keeps_the_code() -> None:
    admins = {1}
    bound = KIT.bound(mapping, context=lambda raw: raw["id"] in admins, run=b"skus v1")
    assert bound.code == KIT.code and KIT.context is None  # the declaration is unchanged
    raw = {"id": 1, "name": "a"}
    before = bound.fingerprint(raw, b"")
    assert before != KIT.fingerprint(raw, b"")
    admins.clear()
    assert bound.fingerprint(raw, b"") != before  # the context moved
    admins.add(1)
    assert KIT.bound(mapping, context=bound.context, run=b"skus v2").fingerprint(raw, b"") != (
        before
    )
    known = KnownAccounts({"1": bound.fingerprint(raw, bound.code)})
    assert bound.map_page([raw], known) == [] and known.skipped == 1
