"""kit/text.py: vendor values made storable (control characters, lengths, instants), counted
per field; and any text shown on a terminal without its escape sequences."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shelfware.kit.text import Cleaner, in_range, shown, strip_unstorable


def test_control_characters_are_removed_and_counted_per_field() -> None:
    cleaner = Cleaner()
    assert cleaner.text("username", "ann\x00ie", 300) == "annie"
    assert cleaner.text("username", "\x1b[31mred\x1b[0m", 300) == "[31mred[0m"
    assert cleaner.text("email", "a@x.io\r\nBcc: evil@x.io", 320) == "a@x.ioBcc: evil@x.io"
    assert cleaner.text("display_name", "\x85next\x9b line\x7f", 300) == "next line"
    assert cleaner.text("display_name", "lone \ud800 surrogate", 300) == "lone  surrogate"
    assert cleaner.text("display_name", "\x00\x01", 300) is None  # nothing left: unknown
    assert cleaner.as_dict() == {
        "display_name.control": 3,
        "email.control": 1,
        "username.control": 2,
    }


def test_long_text_is_cut_to_its_column_and_ordinary_text_is_untouched() -> None:
    cleaner = Cleaner()
    assert cleaner.text("display_name", "x" * 20_000, 300) == "x" * 300
    for fine in ("Zoë Ångström", "日本語の名前", "x" * 300, "[/bold]x", "=SUM(1)", "a\u202eb"):
        assert cleaner.text("display_name", fine, 300) == fine
    assert cleaner.text("display_name", None, 300) is None
    assert cleaner.as_dict() == {"display_name.truncated": 1}


def test_instants_outside_1970_to_2999_are_dropped() -> None:
    cleaner = Cleaner()
    early, late = datetime(1500, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
    edge = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert cleaner.instant("last_activity_at", early) is None
    assert cleaner.instant("last_activity_at", late) is None
    assert cleaner.instant("created_in_app_at", datetime(1969, 12, 31, 23, 59, tzinfo=UTC)) is None
    assert cleaner.instant("last_activity_at", edge) == edge
    assert cleaner.instant("last_activity_at", datetime(1970, 1, 1, tzinfo=UTC)) is not None
    assert cleaner.as_dict() == {
        "created_in_app_at.out_of_range": 1,
        "last_activity_at.out_of_range": 2,
    }
    assert in_range(edge) and not in_range(late)


def test_an_id_is_never_changed_only_judged() -> None:
    cleaner = Cleaner()
    assert cleaner.usable_key("external_id", "12345", 200)
    assert cleaner.usable_key("external_id", "ünïcode-ïd", 200)
    assert not cleaner.usable_key("external_id", "12\x0045", 200)
    assert not cleaner.usable_key("external_id", "9" * 201, 200)
    assert cleaner.as_dict() == {"external_id.unusable": 2}


@given(st.text())
def test_cleaned_text_never_holds_an_unstorable_character_nor_exceeds_its_limit(
    value: str,
) -> None:
    cleaned = Cleaner().text("f", value, 10)
    assert cleaned is None or (len(cleaned) <= 10 and strip_unstorable(cleaned) == cleaned)
    assert cleaned is None or all(c not in cleaned for c in "\x00\x1b\r\n\x9b")


def test_shown_escapes_what_a_terminal_would_obey() -> None:
    assert shown("plain name") == "plain name"
    assert shown("\x1b[2J\x1b]0;pwned\x07") == "\\x1b[2J\\x1b]0;pwned\\x07"
    assert shown("evil\u202etxt.exe") == "evil\\u202etxt.exe"  # bidi override
    assert shown("a\r\nb\tc\x9bd") == "a\\r\\nb\\tc\\x9bd"
    assert shown("zero\u200bwidth\u2028line") == "zero\\u200bwidth\\u2028line"
    assert shown("Zoë [/bold] 日本") == "Zoë [/bold] 日本"


@given(st.text())
def test_shown_text_is_always_printable(value: str) -> None:
    assert shown(value).isprintable()
    assert not any(c in shown(value) for c in "\x1b\x00\r\n\u202e")
