"""Slack direct messages (``SlackDirect``, slack-sdk) against the Slack sandbox over real HTTP:
lookup, open, post; Slack's errors as delivery errors; rate limits waited out when short and
not when long; the bot token in no error and no log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shelfware.kit.redact import SecretFilter
from shelfware.notifications.email import DeliveryError
from shelfware.notifications.slack import SlackDirect
from shelfware.sandbox.server import serve_in_thread
from shelfware.sandbox.slack import SlackSandbox, create_slack_app, generate_workspace

NOW = datetime(2026, 3, 1, tzinfo=UTC)
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]


@pytest.fixture
def sandbox() -> Iterator[tuple[str, str, SlackSandbox]]:
    workspace = generate_workspace(8, 9, NOW)
    app = create_slack_app(workspace, window_seconds=1, limits={"users.lookupByEmail": 2})
    with serve_in_thread(app) as server:
        yield f"{server.url}/api/", workspace.api_key, app.state.slack


def test_a_dm_reaches_the_person_of_the_address(sandbox: tuple[str, str, SlackSandbox]) -> None:
    url, token, state = sandbox
    member = state.workspace.users[0]
    direct = SlackDirect(token, url)
    assert direct.send(member.email, "hi", BLOCKS)
    assert direct.send(member.email, "again", BLOCKS)  # the channel is looked up once
    assert [m.text for m in state.messages_to(member.email)] == ["hi", "again"]
    assert state.calls.count("users.lookupByEmail") == 1


def test_errors_are_delivery_errors_without_the_token(
    sandbox: tuple[str, str, SlackSandbox], caplog: pytest.LogCaptureFixture
) -> None:
    url, token, state = sandbox
    caplog.handler.addFilter(SecretFilter())
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DeliveryError, match=r"no Slack user has this email.*users_not_found"):
            SlackDirect(token, url).send("nobody@example.com", "hi", BLOCKS)
        wrong = "xoxb-" + "9" * 30
        with pytest.raises(DeliveryError, match="invalid_auth") as failed:
            SlackDirect(wrong, url).send(state.workspace.users[0].email, "hi", BLOCKS)
    assert wrong not in str(failed.value) and token not in str(failed.value)
    assert token not in caplog.text and wrong not in caplog.text
    assert state.messages == []


def test_short_rate_limits_are_waited_out_long_ones_fail_at_once(
    sandbox: tuple[str, str, SlackSandbox],
) -> None:
    url, token, state = sandbox
    direct = SlackDirect(token, url)
    started = time.monotonic()
    for member in state.workspace.users[:4]:  # 2 lookups per second allowed
        direct.send(member.email, "hi", BLOCKS)
    assert time.monotonic() - started >= 0.9  # a Retry-After was honoured
    assert "users.lookupByEmail" in state.rate_limited
    assert len(state.messages) == 4

    state.force_rate_limit(1, retry_after=900)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="ratelimited"):
        direct.send(state.workspace.users[5].email, "hi", BLOCKS)
    assert time.monotonic() - started < 5  # not 900 s: the step goes on, the next one retries


def test_a_slack_api_url_on_a_private_address_is_refused_unless_allowed(
    sandbox: tuple[str, str, SlackSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """slack-sdk connects on its own (urllib), not through the kit's guarded transport: the
    configured URL is checked before the first message, and nothing reaches the sandbox."""
    url, token, state = sandbox
    member = state.workspace.users[0]
    monkeypatch.delenv("SHELFWARE_ALLOW_PRIVATE_URLS", raising=False)
    with pytest.raises(DeliveryError, match=r"SHELFWARE_SLACK_API_URL: .*loopback"):
        SlackDirect(token, url).send(member.email, "hi", BLOCKS)
    assert state.calls == [] and state.messages == []
    with pytest.raises(DeliveryError, match="must be an https:// URL"):
        SlackDirect(token, "http://slack.example/api/").send(member.email, "hi", BLOCKS)
    monkeypatch.setenv("SHELFWARE_ALLOW_PRIVATE_URLS", "true")
    assert SlackDirect(token, url).send(member.email, "hi", BLOCKS)
