"""Signed statements: bound to their payload, their purpose and their time; rotation-proof."""

from __future__ import annotations

from cryptography.fernet import Fernet

from shelfware.kit.crypto import KeyRing
from shelfware.kit.signing import Signer


def test_a_token_verifies_only_for_its_payload_purpose_and_time() -> None:
    keys = KeyRing([Fernet.generate_key()])
    signer = Signer(keys, "reclaim preview")
    token = signer.sign("admin|1,2,3", issued=1000)
    assert signer.verify(token, "admin|1,2,3", now=1000, ttl=60)
    assert signer.verify(token, "admin|1,2,3", now=1060, ttl=60)
    assert not signer.verify(token, "admin|1,2,3", now=1061, ttl=60)  # expired
    assert not signer.verify(token, "admin|1,2,3", now=999, ttl=60)  # from the future
    assert not signer.verify(token, "admin|1,2,3,4", now=1000, ttl=60)  # another selection
    assert not signer.verify(token, "viewer|1,2,3", now=1000, ttl=60)  # another person
    assert not Signer(keys, "other purpose").verify(token, "admin|1,2,3", now=1000, ttl=60)
    assert not Signer(KeyRing([Fernet.generate_key()]), "reclaim preview").verify(
        token, "admin|1,2,3", now=1000, ttl=60
    )
    issued, tag = token.split(".")
    other_end = "B" if tag.endswith("A") else "A"  # one letter off, whatever the tag ends with
    for forged in (
        None,
        "",
        "x",
        f"{int(issued) + 1}.{tag}",
        f"{issued}.{tag[:-1]}{other_end}",
        "1.2.3",
    ):
        assert not signer.verify(forged, "admin|1,2,3", now=1000, ttl=60), forged


def test_a_token_signed_before_a_key_rotation_still_verifies() -> None:
    old = KeyRing([Fernet.generate_key()])
    token = Signer(old, "p").sign("x", issued=5)
    rotated = old.with_new_key()
    assert Signer(rotated, "p").verify(token, "x", now=5, ttl=1)
    assert Signer(rotated, "p").sign("x", issued=5) != token  # the newest key signs
