"""Keep secrets out of error messages and logs.

A `Redactor` knows the secret values in play (API keys, tokens, client secrets) and replaces
them with `***` in any text. It also knows the well-known places secrets travel in HTTP: auth
headers and credential-like query parameters.

A process-wide registry (`register_secret`, `default_redactor`) lets a `SecretFilter` attached
to a logging handler scrub every secret that any client registered, whatever logger the record
came from.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
# Shorter values are not masked: no real credential is that short, and masking them would
# mangle every message they happen to occur in.
MIN_SECRET_LENGTH = 4

# Header names (lower case) whose values are credentials.
SENSITIVE_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "zsessionid",
        "x-api-key",
        "cookie",
        "set-cookie",
    }
)

# Query parameter names (lower case) whose values are credentials.
SENSITIVE_QUERY_PARAMS: frozenset[str] = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
    }
)


# `name=value` for the parameters above, wherever it shows up in text (a URL inside a message).
_QUERY_PARAM_IN_TEXT = re.compile(
    r"(?i)([?&;](?:" + "|".join(sorted(SENSITIVE_QUERY_PARAMS)) + r")=)[^&#\s\"'<>]+"
)


def _variants(secret: str) -> set[str]:
    """A secret as it may appear in text: raw and URL-encoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe="")}


class Redactor:
    """Replaces known secret values with `***` in any text. Thread-safe."""

    def __init__(
        self, secrets: Iterable[str | None] = (), *, parent: Redactor | None = None
    ) -> None:
        self._parent = parent  # its secrets are masked too (e.g. the process-wide redactor)
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self.register(*secrets)

    def register(self, *secrets: str | None) -> None:
        """Add secret values; empty values are ignored."""
        added = False
        with self._lock:
            for secret in secrets:
                if not secret or len(secret) < MIN_SECRET_LENGTH:
                    continue
                for variant in _variants(secret):
                    if variant not in self._secrets:
                        self._secrets.add(variant)
                        added = True
            if added:
                # Longest first, so a secret containing another is masked whole.
                self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))

    def redact(self, text: object) -> str:
        """`text` as a string with every registered secret replaced by `***`."""
        result = text if isinstance(text, str) else str(text)
        if "=" in result:
            result = _QUERY_PARAM_IN_TEXT.sub(r"\1" + MASK, result)
        for secret in self._ordered:
            if secret in result:
                result = result.replace(secret, MASK)
        if self._parent is not None:
            result = self._parent.redact(result)
        return result

    def redact_url(self, url: object) -> str:
        """A URL with credential query parameters, userinfo and known secrets masked."""
        return self.redact(redact_url(url))

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {name: self.redact(value) for name, value in redact_headers(headers).items()}


def redact_url(url: object) -> str:
    """Mask credential-like query parameters (`key`, `token`, ...) and userinfo in a URL."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SENSITIVE_QUERY_PARAMS for name, _ in pairs):
            query = urlencode(
                [
                    (name, MASK if name.lower() in SENSITIVE_QUERY_PARAMS else value)
                    for name, value in pairs
                ],
                safe="*",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with the values of auth headers masked."""
    return {
        name: (MASK if name.lower() in SENSITIVE_HEADERS else value)
        for name, value in headers.items()
    }


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor every HTTP client registers its secrets with."""
    return _DEFAULT


def register_secret(*secrets: str | None) -> None:
    """Register secret values with the process-wide redactor (used by `SecretFilter`)."""
    _DEFAULT.register(*secrets)


class SecretFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from every record it sees.

    Attach it to handlers (`handler.addFilter(SecretFilter())`): it rewrites the record's
    message, exception text and stack text in place and never drops a record.
    """

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        return self._redactor or _DEFAULT

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep the raw msg, still scrubbed
            message = str(record.msg)
        record.msg = redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.redact(record.stack_info)
        return True


# Loggers of the libraries under the kit: httpx logs every request URL at INFO; httpcore logs
# raw headers at DEBUG. (A logger's filters only see records logged on that very logger.)
LIBRARY_LOGGERS: tuple[str, ...] = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def install_secret_filter(*logger_names: str) -> None:
    """Attach a `SecretFilter` (process-wide secrets) to loggers, once each.

    Filters on a logger apply to records logged on that very logger, so this covers the HTTP
    libraries' own log lines; to scrub everything, add `SecretFilter()` to your handlers.
    """
    for name in logger_names or LIBRARY_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, SecretFilter) for existing in target.filters):
            target.addFilter(SecretFilter())


# Parameter names that carry a credential, compared without case, '-' or '_'.
_CREDENTIAL_NAMES = frozenset(
    {"key", "sig", "auth", "code", "pass", "pwd", "jwt", "bearer", "session", "sid"}
)
_CREDENTIAL_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "accesskey",
    "privatekey",
    "signature",
    "credential",
    "authorization",
    "sessionid",
)


def is_credential_param(name: str) -> bool:
    """Whether a query parameter named ``name`` looks like it carries a credential
    (``token``, ``access_token``, ``api_key``, ``apikey``, ``key``, ``secret``,
    ``client_secret``, ``password``, ``sig``, ``signature``, ``auth``, ``X-Api-Key``...)."""
    plain = name.lower().replace("-", "").replace("_", "").replace(".", "").strip()
    return (
        plain in _CREDENTIAL_NAMES
        or (plain.startswith("auth") and not plain.startswith("author"))
        or plain.endswith("key")
        or any(part in plain for part in _CREDENTIAL_PARTS)
    )


def mask_url(url: object) -> str:
    """A URL as views show it: userinfo and every query value (and any fragment) as ``***``;
    scheme, host, port, path and parameter names stay readable."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{quote_plus(name)}={MASK}" for name, _ in pairs) if pairs else MASK
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
