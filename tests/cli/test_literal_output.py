"""Terminal output: vendor text is never read as Rich markup and never sends escape sequences
(cli/output.py: every table cell and every message value is literal text)."""

from __future__ import annotations

import pytest

from shelfware.cli import output
from shelfware.cli.context import one_line
from shelfware.cli.sync import cleaned_text

HOSTILE = [
    "[/bold]x",
    "[link=https://evil.example]Keep my seat[/link]",
    "[red]fake error[/red]",
    ":thumbs_up: ok",
    "\x1b[2J\x1b]0;pwned\x07wiped",
    "evil\u202etxt.exe",
    "a\x9bb\x00c",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_table_shows_every_cell_literally(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    output.table(value, ["User", ("Idle", "right")], [(value, 3)], caption=value)
    out = capsys.readouterr().out
    assert out.count(value.translate(ESCAPED)) == 3  # title, cell and caption, as written
    assert not set(out) & set("\x1b\x07\x00\x9b\u202e")


@pytest.mark.parametrize("value", HOSTILE)
def test_a_message_shows_a_value_literally(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from shelfware.cli.context import console

    console.print(f"[bold]Candidate 7:[/] {output.literal(value)}")
    out = capsys.readouterr().out
    assert f"Candidate 7: {value.translate(ESCAPED)}" in out
    assert not set(out) & set("\x1b\x07\x00\x9b\u202e")


ESCAPED = {
    0x1B: "\\x1b",
    0x07: "\\x07",
    0x00: "\\x00",
    0x9B: "\\x9b",
    0x202E: "\\u202e",
}


def test_error_lines_and_the_sync_summary_escape_too() -> None:
    assert one_line("bad\x1b[31m\nline\u202e") == "bad\\x1b[31m line\\u202e"
    assert cleaned_text({"display_name.truncated": 1, "username.control": 1200}) == (
        "display_name.truncated 1, username.control 1,200"
    )
