"""A SAML 2.0 service provider (pysaml2, signatures checked by the xmlsec1 program).

- The identity provider's metadata comes from a URL (fetched through kit/netguard, cached
  ``METADATA_SECONDS``) or a file; it holds the provider's entity ID, its single sign-on
  address and the certificate its signatures are checked with.
- SP-initiated sign-in only: :meth:`SamlServiceProvider.login_url` builds an AuthnRequest with
  the caller's ID (HTTP-Redirect binding, RelayState); the answer comes back to the ACS by
  HTTP-POST. Unsolicited (IdP-initiated) answers are refused: an answer must be InResponseTo
  the request its browser began.
- :meth:`SamlServiceProvider.verify` refuses any answer whose assertion is not signed (the
  assertion or the whole response) by the provider's key, not issued by the configured
  provider, without an AudienceRestriction naming shelfware's entity ID, addressed
  (Destination, bearer SubjectConfirmation Recipient) elsewhere than the ACS, or outside its
  NotBefore / NotOnOrAfter (``LEEWAY`` seconds of clock skew). Replays are the caller's: it
  remembers :attr:`SamlIdentity.assertion_id` until :attr:`SamlIdentity.expires_at`.
- The SP's own key (signs its AuthnRequests, decrypts encrypted assertions) is read from a
  file by xmlsec1; its path is shown, never its content.

Errors are :class:`SamlError`, one line for the person signing in and the audit trail.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from shelfware.kit.netguard import guarded_async_client, is_loopback_host

if TYPE_CHECKING:
    from saml2.config import SPConfig

# pysaml2 takes seconds to import: it is imported where used, never by `import shelfware...`
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_FORMAT_EMAILADDRESS = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

METADATA_SECONDS = 3600.0
LEEWAY = 60  # seconds of clock skew allowed on NotBefore / NotOnOrAfter
TIMEOUT = 15.0
MAX_DOCUMENT = 2 * 1024 * 1024
MAX_RESPONSE = 512 * 1024  # a posted SAMLResponse (base64)
MAX_VALUES = 500
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
_log = logging.getLogger(__name__)


class SamlError(Exception):
    """The sign-in through the identity provider failed; the message says why (one line)."""


@dataclass(frozen=True)
class SamlIdentity:
    """What a verified assertion says: who (``issuer`` and ``name_id``), its attributes
    (name and friendly name both map to the values), and until when it may be replayed."""

    issuer: str
    name_id: str
    name_id_format: str
    attributes: dict[str, list[str]]
    assertion_id: str
    expires_at: datetime

    def claims(self, *, groups_attribute: str, email_attribute: str) -> dict[str, Any]:
        """The identity as the claims accounts/sso.sign_in takes (``sub``, ``email``, groups
        under ``groups_attribute``)."""
        email = next(iter(self.attributes.get(email_attribute, [])), None)
        if email is None and self.name_id_format == NAMEID_FORMAT_EMAILADDRESS:
            email = self.name_id
        claims: dict[str, Any] = {
            "sub": self.name_id,
            groups_attribute: list(self.attributes.get(groups_attribute, [])),
        }
        if email:
            claims["email"] = email
        return claims


def check_url(url: str, what: str) -> str:
    """``url``: https, or http on a loopback host (a provider on this machine)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.fragment:
        raise ValueError(f"the {what} {url!r} is not a URL")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and is_loopback_host(parts.hostname)
    ):
        raise ValueError(f"the {what} {url!r} must use https")
    return url


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise SamlError("the xmlsec1 program is not installed (Debian: apt-get install xmlsec1)")
    return found


def _epoch(text: str | None) -> float | None:
    from saml2.time_util import str_to_time

    return float(calendar.timegm(str_to_time(text))) if text else None


class SamlServiceProvider:
    """shelfware as a SAML service provider of one identity provider (see the module)."""

    def __init__(
        self,
        *,
        entity_id: str,
        idp_metadata_url: str | None = None,
        idp_metadata_file: Path | None = None,
        idp_entity_id: str | None = None,
        key_file: Path | None = None,
        cert_file: Path | None = None,
    ) -> None:
        if (idp_metadata_url is None) == (idp_metadata_file is None):
            raise ValueError("SAML needs the identity provider's metadata: a URL or a file")
        if (key_file is None) != (cert_file is None):
            raise ValueError("the SAML SP key and certificate go together: set both or neither")
        self.entity_id = entity_id
        self.idp_metadata_url = (
            check_url(idp_metadata_url, "SAML IdP metadata URL") if idp_metadata_url else None
        )
        self.idp_metadata_file = idp_metadata_file
        self.idp_entity_id = idp_entity_id
        self.key_file = key_file
        self.cert_file = cert_file
        self._metadata: tuple[float, str] | None = None
        self._configs: dict[tuple[str, str], SPConfig] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # the key's path at most, never its content
        return f"SamlServiceProvider(entity_id={self.entity_id!r})"

    # --- configuration -------------------------------------------------------------------

    def _config_dict(self, acs_url: str, idp_metadata: str | None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "accepted_time_diff": LEEWAY,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                    "allow_unsolicited": False,
                    "authn_requests_signed": self.key_file is not None,
                    "want_assertions_or_response_signed": True,
                    "want_assertions_signed": False,
                    "want_response_signed": False,
                    "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
                    "name_id_format_allow_create": True,
                }
            },
        }
        if self.key_file is not None and self.cert_file is not None:
            config["key_file"] = str(self.key_file)
            config["cert_file"] = str(self.cert_file)
            config["encryption_keypairs"] = [
                {"key_file": str(self.key_file), "cert_file": str(self.cert_file)}
            ]
        if idp_metadata is not None:
            config["metadata"] = {"inline": [idp_metadata]}
        return config

    def metadata_xml(self, acs_url: str) -> str:
        """shelfware's SP metadata (entity ID, ACS, its certificate when it has one)."""
        from saml2.config import SPConfig
        from saml2.metadata import entity_descriptor

        config = SPConfig().load(self._config_dict(acs_url, None))
        return str(entity_descriptor(config))

    async def idp_metadata(self) -> str:
        """The identity provider's metadata document (a URL's cached ``METADATA_SECONDS``)."""
        if self.idp_metadata_file is not None:
            try:
                text = await asyncio.to_thread(self.idp_metadata_file.read_text, "utf-8")
            except OSError as exc:
                raise SamlError(
                    f"the SAML IdP metadata file {str(self.idp_metadata_file)!r} "
                    f"could not be read ({exc.strerror})"
                ) from None
            return text
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < METADATA_SECONDS:
            return cached[1]
        assert self.idp_metadata_url is not None
        try:
            async with guarded_async_client(timeout=TIMEOUT) as client:
                response = await client.get(self.idp_metadata_url)
        except httpx.HTTPError as exc:
            raise SamlError(f"the IdP's SAML metadata could not be fetched: {exc}") from None
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT:
            raise SamlError(f"the IdP's SAML metadata answered HTTP {response.status_code}")
        self._metadata = (time.monotonic(), response.text)
        return response.text

    async def _config(self, acs_url: str) -> SPConfig:
        from saml2.config import SPConfig

        async with self._lock:
            metadata = await self.idp_metadata()
            key = (acs_url, metadata)
            config = self._configs.get(key)
            if config is None:
                try:
                    config = await asyncio.to_thread(
                        SPConfig().load, self._config_dict(acs_url, metadata)
                    )
                except Exception as exc:  # pysaml2 raises many kinds on a bad document
                    raise SamlError(
                        f"the IdP's SAML metadata could not be read: {str(exc)[:200]}"
                    ) from None
                self._configs = {key: config}  # the latest metadata only
            return config

    def _idp(self, config: SPConfig) -> str:
        idps = sorted(config.metadata.identity_providers())
        if self.idp_entity_id is not None:
            if self.idp_entity_id not in idps:
                raise SamlError(f"the IdP's metadata does not describe {self.idp_entity_id!r}")
            return self.idp_entity_id
        if len(idps) != 1:
            raise SamlError(
                f"the IdP's metadata describes {len(idps)} identity providers: "
                "name the one to use (SHELFWARE_SAML_IDP_ENTITY_ID)"
            )
        return str(idps[0])

    # --- the flow --------------------------------------------------------------------------

    async def login_url(self, *, acs_url: str, request_id: str, relay_state: str) -> str:
        """Where to send the browser: the IdP's single sign-on address with the AuthnRequest
        ``request_id`` (HTTP-Redirect binding, signed when shelfware has a key)."""
        config = await self._config(acs_url)

        def prepare() -> str:
            from saml2.client import Saml2Client

            client = Saml2Client(config)
            _, info = client.prepare_for_authenticate(
                entityid=self._idp(config),
                relay_state=relay_state,
                binding=BINDING_HTTP_REDIRECT,
                message_id=request_id,
            )
            return str(dict(info["headers"])["Location"])

        try:
            return await asyncio.to_thread(prepare)
        except SamlError:
            raise
        except Exception as exc:
            raise SamlError(f"the SAML request could not be made: {str(exc)[:200]}") from None

    async def verify(
        self, saml_response: str, *, acs_url: str, request_id: str, now: float | None = None
    ) -> SamlIdentity:
        """The identity in a posted ``SAMLResponse`` (base64) answering ``request_id``."""
        if not saml_response or len(saml_response) > MAX_RESPONSE:
            raise SamlError("the SAML response is missing or too large")
        try:
            base64.b64decode(saml_response, validate=False)
        except (binascii.Error, ValueError):
            raise SamlError("the SAML response is not base64") from None
        config = await self._config(acs_url)
        idp = self._idp(config)

        def parse() -> Any:
            from saml2.client import Saml2Client

            client = Saml2Client(config)
            return client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
            )

        try:
            answer = await asyncio.to_thread(parse)
        except Exception as exc:
            raise SamlError(_reason(exc)) from None
        if answer is None or answer.assertion is None:
            raise SamlError("the SAML response holds no assertion shelfware can use")
        return _identity(
            answer, idp=idp, sp=self.entity_id, acs_url=acs_url, request_id=request_id, now=now
        )


def _reason(exc: Exception) -> str:
    """One line for what pysaml2 refused (its messages may quote the document: cut)."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    lowered = f"{name} {text}".lower()
    if "sigver" in lowered or "signature" in lowered or "signed" in lowered:
        return "the SAML assertion is not signed by the identity provider"
    if "audience" in lowered:
        return "the SAML assertion is meant for another service (audience)"
    if "lifetimeexceed" in lowered or "too old" in lowered or "on_or_after" in lowered:
        return "the SAML assertion has expired"
    if "toearly" in lowered or "use response yet" in lowered:
        return "the SAML assertion is not valid yet"
    if "unsolicited" in lowered or "came from" in lowered or "don't recall" in lowered:
        return "the SAML response answers no sign-in begun here"
    return f"the SAML response was refused ({name}: {text})"


def _identity(
    answer: Any, *, idp: str, sp: str, acs_url: str, request_id: str, now: float | None
) -> SamlIdentity:
    """shelfware's own checks on what pysaml2 accepted, then the identity."""
    response, assertion = answer.response, answer.assertion
    issuer = (assertion.issuer.text or "").strip() if assertion.issuer is not None else ""
    if issuer != idp:
        raise SamlError("the SAML assertion was issued by another identity provider")
    if response.destination is not None and response.destination != acs_url:
        raise SamlError("the SAML response is addressed to another service (Destination)")
    if response.in_response_to != request_id:
        raise SamlError("the SAML response answers no sign-in begun here")
    if not (response.signature or assertion.signature):
        raise SamlError("the SAML assertion is not signed by the identity provider")
    conditions = assertion.conditions
    audiences = [
        (audience.text or "").strip()
        for restriction in (conditions.audience_restriction if conditions else [])
        for audience in restriction.audience
    ]
    if sp not in audiences:
        raise SamlError("the SAML assertion is meant for another service (audience)")
    subject = assertion.subject
    bearer = [
        c.subject_confirmation_data
        for c in (subject.subject_confirmation if subject else [])
        if c.method == BEARER and c.subject_confirmation_data is not None
    ]
    if not bearer or any(d.recipient != acs_url for d in bearer):
        raise SamlError("the SAML assertion is meant for another address (Recipient)")
    at = time.time() if now is None else now
    limits = [
        t
        for t in [_epoch(conditions.not_on_or_after if conditions else None)]
        + [_epoch(d.not_on_or_after) for d in bearer]
        if t is not None
    ]
    if not limits:
        raise SamlError("the SAML assertion has no NotOnOrAfter")
    if min(limits) + LEEWAY <= at:
        raise SamlError("the SAML assertion has expired")
    starts = [
        t
        for t in [_epoch(conditions.not_before if conditions else None)]
        + [_epoch(d.not_before) for d in bearer]
        if t is not None
    ]
    if starts and max(starts) - LEEWAY > at:
        raise SamlError("the SAML assertion is not valid yet")
    name_id = subject.name_id if subject is not None else None
    if name_id is None or not (name_id.text or "").strip():
        raise SamlError("the SAML assertion names no subject (NameID)")
    if not assertion.id:
        raise SamlError("the SAML assertion has no ID")
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [
                str(v.text).strip()[:500] for v in attribute.attribute_value[:MAX_VALUES] if v.text
            ]
            for name in {attribute.name, attribute.friendly_name} - {None, ""}:
                attributes.setdefault(str(name), []).extend(values)
    return SamlIdentity(
        issuer=issuer,
        name_id=name_id.text.strip(),
        name_id_format=name_id.format or NAMEID_FORMAT_UNSPECIFIED,
        attributes=attributes,
        assertion_id=str(assertion.id),
        expires_at=datetime.fromtimestamp(max(limits) + LEEWAY, UTC),
    )
