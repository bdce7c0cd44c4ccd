"""A profile's sign-in method changed where its connector takes several (profile service,
``change_connection`` with ``auth``): the new method's whole credential is needed, nothing of
the old one is kept, the profile needs a fresh validation; a method the connector does not
speak is refused, named."""

from __future__ import annotations

import pytest

from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ConnectionChange, ProfileCreate

pytestmark = pytest.mark.store


def _make(db, keys, clock, kind: str, url: str):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        data = ProfileCreate(kind=kind, name=kind, url=url, secrets={"api_key": "old-token"})
        return profiles.create_profile(s, keys, clock, data).id


def _change(db, keys, clock, name: str, **change):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        profile = profiles.get_profile(s, name)
        said = profiles.change_connection(s, keys, clock, profile, ConnectionChange(**change))
        return said, profile.auth, profile.username, profiles.secrets_of(profile, keys)


def test_the_methods_each_connector_takes() -> None:
    assert profiles.auth_methods("scim") == ("api-token", "basic")
    assert profiles.auth_methods("rally") == ("api-token", "oauth")
    assert profiles.auth_methods("microsoft365") == ("api-token",)  # an app registration
    assert profiles.auth_methods("custom") == ("api-token",)  # its spec decides


def test_scim_moves_from_a_bearer_token_to_basic_and_back(db, keys, clock) -> None:  # type: ignore[no-untyped-def]
    _make(db, keys, clock, "scim", "https://scim.example.com/scim/v2")
    with pytest.raises(profiles.ProfileError, match="needs the user name and the password"):
        _change(db, keys, clock, "scim", auth="basic")
    with pytest.raises(profiles.ProfileError, match="needs the password"):
        _change(db, keys, clock, "scim", auth="basic", username="svc")
    said, auth, user, secrets = _change(
        db, keys, clock, "scim", auth="basic", username="svc", secrets={"password": "pw"}
    )
    assert said == ["sign-in api-token -> basic"] and (auth, user) == ("basic", "svc")
    assert secrets == {"password": "pw"}  # the old token is gone
    with db.sessions() as s:
        profile = profiles.get_profile(s, "scim")
        assert profile.credential.kind == "basic" and profile.last_validation_ok is None
    said, auth, user, secrets = _change(
        db, keys, clock, "scim", auth="api-token", secrets={"api_key": "new-token"}
    )
    assert (auth, user, secrets) == ("api-token", None, {"api_key": "new-token"})
    assert "new-token" not in " ".join(said) and "pw" not in " ".join(said)


def test_a_method_the_connector_does_not_speak_is_refused(db, keys, clock) -> None:  # type: ignore[no-untyped-def]
    _make(db, keys, clock, "rally", "https://rally1.rallydev.com/slm/webservice")
    with pytest.raises(
        profiles.ProfileError, match="signs in with api-token or oauth, not 'basic'"
    ):
        _change(db, keys, clock, "rally", auth="basic", username="u", secrets={"password": "p"})
    said, auth, _, secrets = _change(
        db, keys, clock, "rally", auth="oauth", secrets={"client_id": "c", "client_secret": "s"}
    )
    assert auth == "oauth" and secrets == {"client_id": "c", "client_secret": "s"}
    assert said == ["sign-in api-token -> oauth (authorize it next)"]
