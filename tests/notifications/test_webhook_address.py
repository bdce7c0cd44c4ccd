"""The chat webhook reaches public addresses only, like every outgoing call (kit/netguard)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shelfware.kit.netguard import ALLOW_PRIVATE_ENV
from shelfware.notifications.chat import post_webhook
from shelfware.notifications.email import DeliveryError
from shelfware.sandbox.server import serve_in_thread


def test_a_webhook_on_a_private_address_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    posted: list[bytes] = []

    async def hook(request: Request) -> PlainTextResponse:
        posted.append(await request.body())
        return PlainTextResponse("ok")

    with serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
        with pytest.raises(DeliveryError):
            post_webhook(f"{server.url}/hook", {"text": "summary"})
        assert posted == []
        monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
        post_webhook(f"{server.url}/hook", {"text": "summary"})
        assert len(posted) == 1
