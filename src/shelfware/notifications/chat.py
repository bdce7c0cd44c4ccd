"""Chat by incoming webhook, Slack-compatible JSON (Slack, Mattermost, Rocket.Chat...)."""

from __future__ import annotations

from typing import Any

import httpx

from shelfware.kit.netguard import guarded_client
from shelfware.notifications.email import DeliveryError

WEBHOOK_TIMEOUT_S = 15


MAX_SECTION_TEXT = 3000  # Slack refuses a section block with more (invalid_blocks)


def chat_payload(text: str, buttons: dict[str, str]) -> dict[str, Any]:
    """``text`` (mrkdwn, already escaped) and one link button per ``label -> url``; ``text``
    alone is the fallback for clients without blocks. Only a person's own message (a Slack
    direct message) has buttons; the shared webhook gets none."""
    if len(text) > MAX_SECTION_TEXT:
        text = text[: MAX_SECTION_TEXT - 1] + "…"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in buttons.items()
                ],
            }
        )
    return {"text": text, "blocks": blocks}


def post_webhook(url: str, payload: dict[str, Any]) -> None:
    try:
        # public addresses only, checked on the connected address (kit.netguard)
        with guarded_client(timeout=WEBHOOK_TIMEOUT_S) as client:
            response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        # never the URL itself: an incoming webhook URL is a secret
        raise DeliveryError(f"chat webhook failed: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise DeliveryError(f"chat webhook answered HTTP {response.status_code}")
