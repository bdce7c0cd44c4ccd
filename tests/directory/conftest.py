"""An Okta sandbox over real HTTP, with budgets well above what a test needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shelfware.sandbox.okta import BUDGETS, RateLimits, create_okta_app
from shelfware.sandbox.okta_org import generate_okta_org
from shelfware.sandbox.server import serve_in_thread
from tests.conftest import NOW
from tests.connectors.test_okta import Okta


@pytest.fixture
def okta() -> Iterator[Okta]:
    org = generate_okta_org(40, 21, NOW)
    app = create_okta_app(org, limits=RateLimits(budgets=dict.fromkeys(BUDGETS, 10_000)))
    with serve_in_thread(app) as server:
        yield Okta(org, app.state.sandbox, server.url)
