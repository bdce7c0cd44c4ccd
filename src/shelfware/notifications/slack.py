"""Slack direct messages through the Web API (``slack-sdk``), with a bot token.

A person is found by their email (``users.lookupByEmail``), a direct-message conversation
is opened with them (``conversations.open``) and the message posted there
(``chat.postMessage``): their keep / release links reach them and nobody else. Rate limits
(HTTP 429 with ``Retry-After``) are waited out when the pause is short, a few times; a longer
one fails this message (the next step tries again). The bot token is a secret: it is sent
only in the ``Authorization`` header and never appears in an error.

Bot scopes needed: ``users:read.email`` (with ``users:read``), ``im:write``, ``chat:write``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpcore
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryState,
)

from shelfware.kit.netguard import (
    AddressRefused,
    check_addresses,
    is_loopback_host,
    system_resolver_sync,
)
from shelfware.kit.redact import register_secret
from shelfware.notifications.email import DeliveryError

SLACK_TIMEOUT_S = 15
MAX_RETRY_AFTER_S = 30  # a longer pause fails the message instead of stalling the step
RATE_LIMIT_RETRIES = 3

# What Slack's error codes mean to the person reading the step's report.
_EXPLAINED = {
    "users_not_found": "no Slack user has this email address",
    "user_not_found": "no Slack user has this email address",
    "invalid_auth": "the Slack bot token is not valid (SHELFWARE_SLACK_BOT_TOKEN)",
    "not_authed": "no Slack bot token was sent",
    "account_inactive": "the Slack bot token belongs to a deactivated bot",
    "token_revoked": "the Slack bot token was revoked",
    "missing_scope": "the Slack app lacks a scope (users:read.email, im:write, chat:write)",
    "channel_not_found": "Slack could not find the direct-message channel",
    "ratelimited": "Slack rate limit: tried again later",
    "user_disabled": "the Slack user is deactivated",
    "cannot_dm_bot": "the Slack user is a bot",
}


class ShortRateLimitRetry(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (sleeps ``Retry-After``), but only for short pauses."""

    def __init__(self, max_retry_count: int = RATE_LIMIT_RETRIES, max_wait: float = 30) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        try:
            seconds = float(wait[0] if isinstance(wait, list) else wait) if wait else 1.0
        except ValueError:
            return False
        return seconds <= self.max_wait


def _check_api_url(base_url: str) -> None:
    """slack-sdk opens its own connections (urllib), not through the kit's guarded transport:
    the configured API URL is held to the same rule here, once, before any message (https, and
    a public address unless SHELFWARE_ALLOW_PRIVATE_URLS)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        raise DeliveryError("SHELFWARE_SLACK_API_URL must be an https:// URL")
    try:
        check_addresses(host, system_resolver_sync(host, parts.port or 443))
    except AddressRefused as refused:
        raise DeliveryError(f"SHELFWARE_SLACK_API_URL: {refused}") from None
    except (OSError, httpcore.ConnectError) as exc:
        raise DeliveryError(f"SHELFWARE_SLACK_API_URL: {host} does not resolve ({exc})") from None


class SlackDirect:
    """Direct messages to people by email, through one bot token."""

    def __init__(self, token: str, base_url: str, *, timeout: float = SLACK_TIMEOUT_S) -> None:
        register_secret(token)  # logs scrub it, whatever logger a record comes from
        self._base_url = base_url
        self._url_checked = False
        self._client = WebClient(
            token=token,
            base_url=base_url.rstrip("/") + "/",
            timeout=int(timeout),
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                ShortRateLimitRetry(max_wait=MAX_RETRY_AFTER_S),
            ],
        )
        self._channels: dict[str, str] = {}  # email -> direct-message channel id

    def _call(self, what: str, method: Any, **args: Any) -> Any:
        try:
            return method(**args)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            raise DeliveryError(f"Slack {what}: {_EXPLAINED.get(code, code)} ({code})") from None
        except (SlackClientError, OSError, ValueError) as exc:
            raise DeliveryError(f"Slack {what} failed: {type(exc).__name__}") from None

    def channel_for(self, email: str) -> str:
        """The direct-message channel with the person of ``email`` (one valid address)."""
        if not self._url_checked:  # at the first message: a refusal is that delivery's failure
            _check_api_url(self._base_url)
            self._url_checked = True
        if email not in self._channels:
            found = self._call("user lookup", self._client.users_lookupByEmail, email=email)
            user = found.get("user") or {}
            user_id = user.get("id")
            if not isinstance(user_id, str) or not user_id:
                raise DeliveryError("Slack user lookup: the answer names no user")
            if user.get("deleted") or user.get("is_bot"):
                raise DeliveryError("Slack user lookup: the user is deactivated or a bot")
            opened = self._call(
                "conversations.open", self._client.conversations_open, users=user_id
            )
            channel = (opened.get("channel") or {}).get("id")
            if not isinstance(channel, str) or not channel:
                raise DeliveryError("Slack conversations.open: the answer names no channel")
            self._channels[email] = channel
        return self._channels[email]

    def send(self, email: str, text: str, blocks: list[dict[str, Any]]) -> str:
        """Post ``text`` (mrkdwn, escaped by the caller) and ``blocks`` to the person's DM;
        returns the message's ``ts``."""
        channel = self.channel_for(email)
        posted = self._call(
            "chat.postMessage",
            self._client.chat_postMessage,
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(posted.get("ts") or "")
