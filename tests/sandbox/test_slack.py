"""The Slack sandbox over real HTTP, with Slack's own SDK (``slack-sdk``) as its client: if the
SDK reads our answers as it reads Slack's, the sandbox is faithful enough to test against.
Rate limits: HTTP 429 with ``Retry-After``, waited out by the SDK's retry handler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from shelfware.sandbox import SANDBOXES
from shelfware.sandbox.faults import FaultSpec
from shelfware.sandbox.server import serve_in_thread
from shelfware.sandbox.slack import SlackSandbox, create_slack_app, generate_workspace

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Running:
    url: str
    token: str
    state: SlackSandbox

    def client(self, token: str | None = None, **kwargs: object) -> WebClient:
        return WebClient(token=token or self.token, base_url=f"{self.url}/api/", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def slack() -> Iterator[Running]:
    app, workspace = SANDBOXES["slack"](20, 3, NOW, 0, FaultSpec())
    with serve_in_thread(app) as server:
        yield Running(server.url, workspace.api_key, app.state.slack)


def test_lookup_open_and_post_a_direct_message_with_the_sdk(slack: Running) -> None:
    member = slack.state.workspace.users[0]
    client = slack.client()
    assert client.auth_test()["bot_id"]
    found = client.users_lookupByEmail(email=member.email.upper())  # case does not matter
    assert found["user"]["id"] == member.id
    assert found["user"]["profile"]["email"] == member.email
    opened = client.conversations_open(users=member.id)
    channel = opened["channel"]["id"]
    assert channel.startswith("D") and "already_open" not in opened.data
    again = client.conversations_open(users=[member.id])  # a list works as in the SDK
    assert again["channel"]["id"] == channel and again["already_open"] is True
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Rally*: keep?"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Keep my seat"},
                    "url": "http://x.test/answer/K",
                }
            ],
        },
    ]
    posted = client.chat_postMessage(channel=channel, text="*Rally*: keep?", blocks=blocks)
    assert posted["channel"] == channel and posted["message"]["text"] == "*Rally*: keep?"
    [message] = slack.state.messages_to(member.email)
    assert message.buttons() == {"Keep my seat": "http://x.test/answer/K"}
    assert message.members == (member.id,)
    # the same message read over HTTP (a demo's way), with the bot token only
    seen = httpx.get(
        f"{slack.url}/_sandbox/messages", headers={"Authorization": f"Bearer {slack.token}"}
    ).json()
    assert seen["ok"] and seen["messages"][0]["ts"] == posted["ts"]
    assert httpx.get(f"{slack.url}/_sandbox/messages").json()["error"] == "invalid_auth"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.users_lookupByEmail(email="nobody@example.com"), "users_not_found"),
        (lambda c: c.users_lookupByEmail(email=""), "invalid_arguments"),
        (lambda c: c.conversations_open(users="U404"), "user_not_found"),
        (lambda c: c.api_call("conversations.open", params={}), "users_list_not_supplied"),
        (lambda c: c.chat_postMessage(channel="D404", text="x"), "channel_not_found"),
        (lambda c: c.api_call("no.suchMethod"), "unknown_method"),
    ],
)
def test_errors_have_slacks_shape(slack: Running, call: object, error: str) -> None:
    with pytest.raises(SlackApiError) as failed:
        call(slack.client())  # type: ignore[operator]
    assert failed.value.response.status_code == 200
    assert failed.value.response.data == {"ok": False, "error": error}


def test_tokens_are_checked(slack: Running) -> None:
    for token, error in (
        ("xoxb-wrong", "invalid_auth"),
        ("xoxp-" + slack.token[5:], "invalid_auth"),
    ):
        with pytest.raises(SlackApiError) as failed:
            slack.client(token).auth_test()
        assert failed.value.response["error"] == error
    with pytest.raises(SlackApiError) as failed:
        WebClient(base_url=f"{slack.url}/api/").auth_test()
    assert failed.value.response["error"] == "not_authed"
    # the legacy way: the token as a form argument (never read from a JSON body)
    form = httpx.post(f"{slack.url}/api/auth.test", data={"token": slack.token}).json()
    assert form["ok"] is True
    body = httpx.post(f"{slack.url}/api/auth.test", json={"token": slack.token}).json()
    assert body == {"ok": False, "error": "not_authed"}


def test_form_and_json_bodies_with_a_bearer_token(slack: Running) -> None:
    member = slack.state.workspace.users[1]
    auth = {"Authorization": f"Bearer {slack.token}"}
    with httpx.Client(base_url=f"{slack.url}/api", headers=auth) as http:
        user = http.post("/users.lookupByEmail", data={"email": member.email}).json()["user"]
        channel = http.post("/conversations.open", data={"users": user["id"]}).json()["channel"]
        form = http.post(
            "/chat.postMessage",
            data={"channel": channel["id"], "blocks": '[{"type": "divider"}]', "text": "a"},
        ).json()
        assert form["ok"] and form["message"]["blocks"] == [{"type": "divider"}]
        bad = http.post("/chat.postMessage", data={"channel": channel["id"], "blocks": "[x"})
        assert bad.json() == {"ok": False, "error": "invalid_blocks"}
        section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
        wide = http.post("/chat.postMessage", json={"channel": channel["id"], "blocks": section})
        assert wide.json() == {"ok": False, "error": "invalid_blocks"}
        empty = http.post("/chat.postMessage", json={"channel": channel["id"]}).json()
        assert empty == {"ok": False, "error": "no_text"}
        long = http.post("/chat.postMessage", json={"channel": channel["id"], "text": "x" * 40_001})
        assert long.json()["error"] == "msg_too_long"


def test_rate_limits_answer_429_with_retry_after_and_the_sdk_waits_them_out() -> None:
    workspace = generate_workspace(5, 4, NOW)
    app = create_slack_app(workspace, window_seconds=1.5, limits={"users.lookupByEmail": 2})
    email = workspace.users[0].email
    with serve_in_thread(app) as server:
        state: SlackSandbox = app.state.slack
        bare = WebClient(token=workspace.api_key, base_url=f"{server.url}/api/", retry_handlers=[])
        bare.users_lookupByEmail(email=email)
        bare.users_lookupByEmail(email=email)
        with pytest.raises(SlackApiError) as limited:
            bare.users_lookupByEmail(email=email)  # Tier-style limit: 2 per window here
        response = limited.value.response
        assert response.status_code == 429 and response["error"] == "ratelimited"
        assert 1 <= int(response.headers["Retry-After"]) <= 2
        # Another method has its own budget.
        assert bare.auth_test()["ok"]
        # The SDK's handler sleeps Retry-After and tries again: the call succeeds.
        patient = WebClient(
            token=workspace.api_key,
            base_url=f"{server.url}/api/",
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
        )
        started = time.monotonic()
        assert patient.users_lookupByEmail(email=email)["user"]["profile"]["email"] == email
        assert time.monotonic() - started >= 0.9
        assert state.rate_limited.count("users.lookupByEmail") >= 2


def test_forced_rate_limits_and_chat_post_message_per_channel_limit() -> None:
    workspace = generate_workspace(5, 5, NOW)
    app = create_slack_app(workspace, window_seconds=60, limits={"chat.postMessage": 1})
    with serve_in_thread(app) as server:
        state: SlackSandbox = app.state.slack
        client = WebClient(token=workspace.api_key, base_url=f"{server.url}/api/")
        state.force_rate_limit(1, retry_after=7)
        with pytest.raises(SlackApiError) as forced:
            client.auth_test()
        assert forced.value.response.headers["Retry-After"] == "7"
        first, second = (
            client.conversations_open(users=m.id)["channel"]["id"] for m in workspace.users[:2]
        )
        client.chat_postMessage(channel=first, text="one")
        client.chat_postMessage(channel=second, text="another channel, another budget")
        with pytest.raises(SlackApiError) as limited:
            client.chat_postMessage(channel=first, text="two")
        assert limited.value.response["error"] == "ratelimited"
        assert [m.text for m in state.messages] == ["one", "another channel, another budget"]
