"""Signed statements: an HMAC-SHA256 tag over a payload, for one purpose, for a while.

A :class:`Signer` proves that this server said ``payload`` at ``issued`` (e.g. "the preview of
exactly these ids was shown to this user"): the token is ``ISSUED.TAG``; the payload itself
travels separately (form fields) and is checked, not trusted. Each purpose has its own key,
derived (HKDF-SHA256) from every key of the key ring: a token made for one purpose never
passes for another, and a token signed before a key rotation still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shelfware.kit.crypto import KeyRing

MAX_TOKEN = 200


class Signer:
    def __init__(self, keys: KeyRing, purpose: str) -> None:
        if not purpose:
            raise ValueError("a signer needs a purpose")
        self._purpose = purpose
        self._keys = [
            HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"shelfware signed statement: " + purpose.encode(),
            ).derive(base64.urlsafe_b64decode(key))
            for key in keys.keys
        ]

    def _tag(self, key: bytes, payload: str, issued: int) -> str:
        message = f"{self._purpose}\n{issued}\n{payload}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, payload: str, issued: int) -> str:
        """A token saying this server stated ``payload`` at ``issued`` (Unix seconds)."""
        return f"{issued}.{self._tag(self._keys[0], payload, issued)}"

    def verify(self, token: str | None, payload: str, now: int, ttl: int) -> bool:
        """Whether ``token`` was signed over exactly ``payload`` for this purpose, at most
        ``ttl`` seconds before ``now`` (and not in the future)."""
        if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
            return False
        issued_text, tag = token.split(".")
        if not issued_text.isdigit() or len(issued_text) > 12:
            return False
        issued = int(issued_text)
        if not 0 <= now - issued <= ttl:
            return False
        return any(hmac.compare_digest(self._tag(key, payload, issued), tag) for key in self._keys)
