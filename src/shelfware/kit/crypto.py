"""The key ring: secrets encrypted at rest with rotating Fernet keys (MultiFernet)."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class KeyRingError(Exception):
    """The key ring is missing, malformed, or cannot decrypt a secret."""


class KeyRing:
    """Newest key first: it encrypts; every key can decrypt."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyRingError("the key ring is empty")
        try:
            self._fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError) as exc:
            raise KeyRingError(
                "a key in the key ring is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc
        self._keys = list(keys)
        self._multi = MultiFernet(self._fernets)

    @property
    def keys(self) -> list[bytes]:
        return list(self._keys)

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise KeyRingError(
                "a stored secret cannot be decrypted with the key ring "
                "(was SHELFWARE_SECRET_KEYS or the key file changed?)"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the newest key."""
        try:
            return self._multi.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise KeyRingError("a stored secret cannot be decrypted for rotation") from exc

    def derived(self, purpose: str) -> KeyRing:
        """A key ring for one purpose only (a cookie kind, a link kind...): each key derived
        from the matching key of this ring with HKDF-SHA256 and ``purpose`` as its label, so
        what is sealed for one purpose never opens as another, and rotating this ring
        rotates every derived one."""
        if not purpose:
            raise KeyRingError("a derived key ring needs a purpose label")
        derived = [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
                base64.urlsafe_b64decode(key)
            )
            for key in self._keys
        ]
        return KeyRing([base64.urlsafe_b64encode(key) for key in derived])

    def with_new_key(self) -> KeyRing:
        return KeyRing([Fernet.generate_key(), *self._keys])

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys = [part.strip().encode() for part in text.replace("\n", ",").split(",")]
        return cls([key for key in keys if key])


def load_key_file(path: Path) -> KeyRing:
    try:
        return KeyRing.parse(path.read_text())
    except FileNotFoundError as exc:
        raise KeyRingError(
            f"no key ring at {path}: run `shelfware init` or set SHELFWARE_SECRET_KEYS"
        ) from exc


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write the key file with mode 0600, atomically, whatever the umask (its directory, when
    this creates it, 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(key.decode() for key in ring.keys) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_key_file(path: Path) -> KeyRing:
    """Load the key file, creating it with one fresh key if it does not exist."""
    if path.exists():
        return load_key_file(path)
    ring = KeyRing([Fernet.generate_key()])
    write_key_file(path, ring)
    return ring
