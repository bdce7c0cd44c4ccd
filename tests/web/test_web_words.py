"""Messages in the web's words: the domain's command-line advice (flags, backticks, commands)
becomes the workspace's own controls in every error line and notice a page shows."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shelfware.reclamation import workflow
from shelfware.reclamation.schemas import ReclaimRequest
from shelfware.web.errors import in_web_words, one_line
from tests.web.conftest import CLI_WORDS, PlainWords, Web

CLI = ("`", "--", "shelfware ")


def _plain(text: str) -> bool:
    return not any(mark in text for mark in CLI)


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            "removal approved: reclaimed at the next `candidates advance`",
            "Run the workflow step now",
        ),
        (
            "the reclaim process of profile 'r' is off: turn it on with "
            "`shelfware profile set r --reclaim`, or revoke the seats by hand",
            "the Reclaim switch on the profile's page",
        ),
        (
            "stopped before the first reclaim: x; name fewer candidates, wait for the window to "
            "move on, or force it with a reason (admins only: --force --reason TEXT)",
            "ask an administrator to exceed it with a reason",
        ),
        ("a rally profile needs a credential (--secret-env VAR)", "the Secret field"),
        ("run `shelfware profile validate r` first", "Validate on the profile's page"),
        ("an unknown --some-flag X here", "“some flag”"),
    ],
)
def test_command_line_advice_is_said_the_web_way(said: str, shown: str) -> None:
    assert shown in in_web_words(said) and _plain(in_web_words(said))


def test_the_domain_messages_a_page_shows_are_plain() -> None:
    with pytest.raises(ValidationError) as caught:
        ReclaimRequest()
    assert _plain(one_line(caught.value)) and "every ready one" in one_line(caught.value)
    assert "approve" in workflow.DECISIONS  # its message is the first case above


def test_every_page_the_web_tests_render_is_read_for_command_line_words(web: Web) -> None:
    """The web fixture's app reads each HTML page it serves (tests/web/conftest.py): a page
    with a flag or a backtick fails its request, so any test that renders it fails."""
    assert web.client().get("/sign-in").status_code == 200
    check = web.app.state.plain_words  # type: ignore[attr-defined]
    assert check.found == []

    async def page(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": b"<p>turn it on: --reclaim</p>"})

    async def csv(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/csv")],
            }
        )
        await send({"type": "http.response.body", "body": b"a,`b`\n"})

    with pytest.raises(AssertionError, match="--reclaim"):
        TestClient(PlainWords(page)).get("/somewhere")
    assert TestClient(PlainWords(csv)).get("/export").status_code == 200  # pages only
    for said in ("run `shelfware sync r`", "use --all-ready", "shelfware profile validate r"):
        assert CLI_WORDS.search(said), said
    for plain in ("<!-- a comment -->", "Apps shelfware connects to", "2026-12-05 -- today"):
        assert not CLI_WORDS.search(plain), plain


def test_domain_text_shown_on_pages_is_said_the_web_way(web: Web) -> None:
    """A check's detail (re-authorize), a run's error (a connector's option advice) and a
    flash are written for every face; the pages show them in the workspace's words (the
    fixture's check fails the request otherwise)."""
    from sqlalchemy import select

    from shelfware.models import IntegrationProfile, SyncRun
    from shelfware.profiles import authorization
    from tests.web.conftest import signed_in
    from tests.web.ops_seed import seed_seats

    seed_seats(web.store.db, web.store.keys, web.clock)
    with web.store.db.transaction() as session:
        profile = session.scalars(select(IntegrationProfile)).one()
        authorization.mark_reauthorization_required(
            session, web.clock, profile, "the app refused the refresh token"
        )
        session.add(
            SyncRun(
                profile_id=profile.id,
                status="failed",
                started_at=web.clock.now(),
                finished_at=web.clock.now(),
                error="the token sees 2 workspaces: choose one with --option workspace=GID",
            )
        )
    client, token = signed_in(web, "sam_integrator")
    page = client.get("/profiles/rally")
    assert page.status_code == 200
    assert "press Authorize on the profile&#39;s page" in page.text
    assert "the option workspace=GID (Options" in client.get("/runs").text
    # a draft's sync refused: the flash names the page's buttons
    refused = client.post("/profiles/rally/sync", data={"csrf_token": token})
    shown = client.get(refused.headers.get("location", "/profiles/rally")).text
    assert "Publish on the profile&#39;s page" in shown, shown[-1500:]
