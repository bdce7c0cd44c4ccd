from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from shelfware.kit.crypto import KeyRing, KeyRingError, ensure_key_file, load_key_file


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_key(tmp_path):
    ring = ensure_key_file(tmp_path / "keys")
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o600
    token = ring.encrypt("secret-value")
    assert "secret-value" not in token
    newer = ring.with_new_key()
    rotated = newer.rotate(token)
    assert rotated != token
    assert newer.decrypt(rotated) == "secret-value"
    only_new = KeyRing([newer.keys[0]])
    assert only_new.decrypt(rotated) == "secret-value"
    with pytest.raises(KeyRingError, match="cannot be decrypted"):
        only_new.decrypt(token)
    assert load_key_file(tmp_path / "keys").keys == ring.keys


def test_bad_keys_are_named():
    with pytest.raises(KeyRingError, match="not a valid Fernet key"):
        KeyRing.parse("not-a-key")
    with pytest.raises(KeyRingError, match="empty"):
        KeyRing.parse(" , ")
    assert (
        len(
            KeyRing.parse(f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}").keys
        )
        == 2
    )


def test_derived_rings_are_per_purpose_and_follow_rotation():
    ring = KeyRing([Fernet.generate_key()])
    session, flash = ring.derived("web session"), ring.derived("web flash")
    assert session.keys != flash.keys and session.keys != ring.keys
    assert ring.derived("web session").keys == session.keys  # deterministic
    sealed = session.encrypt("payload")
    assert session.decrypt(sealed) == "payload"
    for other in (flash, ring):
        with pytest.raises(KeyRingError):
            other.decrypt(sealed)
    newer = ring.with_new_key()
    assert newer.derived("web session").keys[1:] == session.keys  # old keys still open
    assert newer.derived("web session").decrypt(sealed) == "payload"
    with pytest.raises(KeyRingError, match="purpose"):
        ring.derived("")
