"""``shelfware profile connect NAME``: the CLI changes a profile's connection (URL, credential,
options, sign-in method) through the profile service, reads secrets only from the environment,
prints what changed (never a secret) and what to do next; bad input is one line, nothing
changed."""

from __future__ import annotations

from pathlib import Path

from shelfware.profiles import service as profiles
from tests.cli.conftest import PROFILE, SECRET, assert_one_line_error, database, invoke


def _stored(home: Path) -> tuple[str, str | None, dict[str, str], dict[str, object]]:
    from shelfware.kit.crypto import load_key_file

    db = database(home)
    try:
        with db.sessions() as session:
            profile = profiles.get_profile(session, PROFILE)
            secrets = profiles.secrets_of(profile, load_key_file(home / "keys"))
            return profile.url, profile.last_validation_ok, secrets, dict(profile.options or {})
    finally:
        db.dispose()


def test_a_new_key_url_and_options(home: Path) -> None:
    new_key = "n3w-api-key-for-tests-0123456789"
    ran = invoke(
        home,
        "profile", "connect", PROFILE,
        "--url", "https://rally2.example.com/slm/webservice",
        "--secret-env", "NEW_KEY",
        "--option", "page_size=500",
        env={"NEW_KEY": new_key},
    )  # fmt: skip
    assert ran.code == 0, ran
    assert "credential replaced (api_key)" in ran.stdout and "options page_size" in ran.stdout
    assert f"shelfware profile validate {PROFILE}" in ran.stdout
    assert new_key not in ran.stdout + ran.stderr and SECRET not in ran.stdout + ran.stderr
    url, validated, secrets, options = _stored(home)
    assert url == "https://rally2.example.com/slm/webservice"
    assert secrets == {"api_key": new_key} and options == {"page_size": "500"}
    assert validated is None  # a change needs a fresh validation

    again = invoke(home, "profile", "connect", PROFILE, "--option", "page_size=500")
    assert again.code == 0 and "Nothing changed" in again.stdout
    cleared = invoke(home, "profile", "connect", PROFILE, "--clear-options")
    assert cleared.code == 0 and "options cleared" in cleared.stdout
    assert _stored(home)[3] == {}


def test_bad_input_is_one_line_and_changes_nothing(home: Path) -> None:
    before = _stored(home)
    assert_one_line_error(
        invoke(home, "profile", "connect", PROFILE, "--secret-env", "UNSET_VAR"), "UNSET_VAR"
    )
    assert_one_line_error(invoke(home, "profile", "connect", PROFILE, "--url", "ftp://x"), "URL")
    assert_one_line_error(
        invoke(home, "profile", "connect", PROFILE, "--auth", "basic", "--secret-env", "K"),
        "--username",
    )
    assert_one_line_error(
        invoke(home, "profile", "connect", PROFILE, "--option", "a=1", "--clear-options"),
        "--clear-options",
    )
    assert_one_line_error(invoke(home, "profile", "connect", "nobody", "--clear-options"), "nobody")
    assert _stored(home) == before
