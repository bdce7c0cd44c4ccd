"""`CertificateAssertion`: a client proves who it is with a certificate instead of a secret.

RFC 7523 section 2.2 (a JWT as the client's authentication), the way the Microsoft identity
platform asks for it: the token request carries
`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
`client_assertion`, a JWT signed RS256 with the certificate's private key, its header naming the
certificate by thumbprint (`x5t`: SHA-1, base64url; `x5t#S256`: SHA-256), its claims `aud` (the
token endpoint), `iss` = `sub` (the client id), `jti`, `nbf`, `exp` (ten minutes). The PEM holds
the private key and the certificate (as exported for an app registration).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shelfware.connectors.base import ConnectorError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME = 600  # seconds


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def is_pem_credential(value: str) -> bool:
    """Whether a secret is a PEM (a private key and certificate) rather than a client secret."""
    return value.lstrip().startswith("-----BEGIN")


class CertificateAssertion:
    """Client assertions for one client id, signed with a certificate's RSA key."""

    def __init__(self, pem: str, client_id: str, *, clock: Callable[[], float] = time.time) -> None:
        data = pem.encode()
        try:
            key = serialization.load_pem_private_key(data, password=None)
            certificate = x509.load_pem_x509_certificate(data)
        except (ValueError, TypeError):
            raise ConnectorError(
                "the certificate credential must be a PEM holding an unencrypted RSA private "
                "key and its certificate"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConnectorError("the certificate's private key must be RSA (RS256)")
        self.key = key
        self.client_id = client_id
        self.clock = clock
        self.x5t = b64url(certificate.fingerprint(hashes.SHA1()))
        self.x5t_s256 = b64url(certificate.fingerprint(hashes.SHA256()))

    def __call__(self, audience: str) -> str:
        """A fresh assertion for the token endpoint `audience`."""
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256}
        claims = {
            "aud": audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME,
        }
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{b64url(signature)}"
