"""Messages in the web's words: the domain's command-line advice (flags, backticks, commands)
becomes the workspace's own controls in every error line and notice a page shows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shelfware.reclamation import workflow
from shelfware.reclamation.schemas import ReclaimRequest
from shelfware.web.errors import in_web_words, one_line

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
