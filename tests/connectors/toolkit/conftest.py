"""The kit's pieces against the lab API over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from shelfware.kit.http import HttpPolicy, VendorClient
from shelfware.sandbox.server import RunningServer, serve_in_thread

from .lab import LabState, create_lab

FAST = HttpPolicy(backoff_base=0.001, backoff_cap=0.005, read_timeout=10, max_retries=3)


@dataclass
class Lab:
    state: LabState
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: object) -> VendorClient:
        kwargs.setdefault("policy", FAST)
        return VendorClient(base_url=self.url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def lab() -> Iterator[Lab]:
    state = LabState()
    state.fill(95)
    with serve_in_thread(create_lab(state)) as server:
        yield Lab(state, server)


@pytest.fixture
async def client(lab: Lab) -> AsyncIterator[VendorClient]:
    http = lab.client()
    try:
        yield http
    finally:
        await http.aclose()
