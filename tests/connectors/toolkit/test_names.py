"""`NameTable`: vendor names matched without regard to case, spaces, hyphens or underscores;
unknown names are never guessed, only described."""

from __future__ import annotations

import pytest

from shelfware.connectors.toolkit import (
    Meaning,
    NameTable,
    names_check,
    names_option,
    normalise_name,
    unrecognised_text,
)

ROLES = NameTable.of(
    "role",
    {
        "Account Admin": Meaning(admin=True, edition="Collaborator"),
        "Collaborator": Meaning(edition="Collaborator"),
        "Reviewer": Meaning(edition="Reviewer"),
    },
)


@pytest.mark.parametrize(
    ("answered", "canonical"),
    [
        ("Account Admin", "Account Admin"),
        ("ACCOUNT_ADMIN", "Account Admin"),
        ("account-admin", "Account Admin"),
        ("  accountadmin ", "Account Admin"),
        ("Account\tAdmin", "Account Admin"),
        ("REVIEWER", "Reviewer"),
        ("collaborator", "Collaborator"),
    ],
)
def test_a_name_is_read_in_any_spelling(answered: str, canonical: str) -> None:
    meaning = ROLES.read(answered)
    assert meaning is not None and meaning.canonical == canonical
    assert meaning.admin is (canonical == "Account Admin")


@pytest.mark.parametrize("answered", ["SUPER_USER", "Account Admins", "Admin", "", None])
def test_an_unknown_name_is_never_guessed(answered: str | None) -> None:
    assert ROLES.read(answered) is None
    assert not ROLES.knows(answered)


def test_unknown_names_are_described_once_each_in_order() -> None:
    found = ROLES.unknown_in(["SUPER_USER", "REVIEWER", None, "super-user", "Owner", "SUPER_USER"])
    assert found == [
        "unknown role 'SUPER_USER'",
        "role missing",
        "unknown role 'super-user'",
        "unknown role 'Owner'",
    ]
    assert ROLES.unknown("x" * 200).endswith("...'")  # a long vendor value is shortened


def test_names_that_mean_different_things_in_one_spelling_are_refused() -> None:
    with pytest.raises(ValueError, match="collide"):
        NameTable.of("role", {"Read Only": Meaning(), "READ_ONLY": Meaning(admin=True)})
    same = NameTable.of("role", {"Read Only": Meaning(), "READ_ONLY": Meaning()})
    assert same.read("read-only") == Meaning(canonical="Read Only")
    with pytest.raises(ValueError, match="empty"):
        NameTable.of("role", {" _-": Meaning()})


def test_a_table_extended_by_options_overrides_the_same_name() -> None:
    extended = ROLES.extended(
        {
            **names_option("Billing Admin, Owner", Meaning(admin=True)),
            **names_option("REVIEWER", Meaning(admin=True)),
        }
    )
    assert extended.read("billing_admin") == Meaning(admin=True, canonical="Billing Admin")
    assert extended.read("OWNER") is not None and extended.read("owner").admin  # type: ignore[union-attr]
    reviewer = extended.read("Reviewer")
    assert reviewer is not None and reviewer.admin
    assert ROLES.read("Owner") is None  # the original is unchanged
    with pytest.raises(ValueError, match="names no value"):
        names_option(" , ", Meaning(), what="admin_roles")


def test_normalise_and_the_account_text() -> None:
    assert (
        normalise_name("Workspace_Admin") == normalise_name("workspace-admin") == "workspaceadmin"
    )
    assert unrecognised_text(None, None) is None
    assert unrecognised_text("unknown role 'A'", None, "unknown role 'A'", "b") == (
        "unknown role 'A'; b"
    )
    assert len(unrecognised_text("x" * 600) or "") == 500


def test_the_validation_check_lists_unknown_names_without_failing() -> None:
    ok = names_check([], 12)
    assert ok.ok and "12 accounts" in ok.detail
    listed = names_check(["unknown role 'SUPER_USER'"], 40)
    assert (
        listed.ok and "SUPER_USER" in listed.detail and "never removal candidates" in listed.detail
    )
