"""Strict CSV input: real-world files are read, bad ones are refused with line and reason."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfware.connectors.roadmunk import parse_user_report
from shelfware.kit.csv_input import CsvInputError, read_csv

COLUMNS = {"emails": ("email",), "status": (), "role": ()}


def test_bom_quoting_any_order_unknown_columns_and_blank_lines() -> None:
    data = (
        '\ufeffRole,Shoe Size,"Emails",STATUS\r\n'
        "\r\n"
        'Reviewer,42,"ada@example.com",Active\r\n'
        ",,,\r\n"
        '"Collaborator, senior",43,bob@example.com,Inactive\r\n'
    ).encode()
    rows = read_csv(data, columns=COLUMNS, required=("emails", "status"), unknown="ignore")
    assert [(r.line, dict(r.values)) for r in rows] == [
        (3, {"role": "Reviewer", "emails": "ada@example.com", "status": "Active"}),
        (5, {"role": "Collaborator, senior", "emails": "bob@example.com", "status": "Inactive"}),
    ]


def test_an_unknown_column_refuses_the_file_naming_it() -> None:
    data = b"Emails,Status,Shoe Size,Rolle\nada@example.com,Active,42,Reviewer\n"
    with pytest.raises(CsvInputError, match="line 1: unknown column 'Shoe Size', 'Rolle'"):
        read_csv(data, columns=COLUMNS, required=("emails",))
    assert len(read_csv(data, columns=COLUMNS, required=("emails",), unknown="ignore")) == 1


def test_semicolon_files_are_read_too() -> None:
    rows = read_csv(b"Email;Status\na@x.io;Active\n", columns=COLUMNS, required=("emails",))
    assert rows[0].values == {"emails": "a@x.io", "status": "Active"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"Name,Role\nx,y\n", "line 1: the header has no 'emails'"),
        (b"Emails,Status\na@x.io,Active\nb@x.io,\n", "line 3: no value for 'status'"),
        (b"Emails,Status\na@x.io,Active,surplus\n", "line 2: 3 fields where the header has 2"),
        (b"Emails,Email,Status\n", "column 'emails' appears twice"),
        (b'Emails,Status\n"a@x.io,Active\n', "line"),
        (b"Emails,Status\n\xff\xfe,Active\n", "line 2: not UTF-8"),
    ],
)
def test_bad_files_name_the_line_and_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(CsvInputError) as caught:
        read_csv(data, columns=COLUMNS, required=("emails", "status"))
    assert message in str(caught.value)


def test_the_roadmunk_report_gives_the_active_users() -> None:
    data = (
        b"First Name,Last Name,Emails,Role,Status,Last Login\n"
        b"Ada,Lovelace,ADA@example.com,Collaborator,Active,2026-01-02\n"
        b"Bob,Smith,bob@example.com,Reviewer,Inactive,\n"
    )
    report = parse_user_report(data)
    assert report.rows == 2 and report.active_emails == frozenset({"ada@example.com"})
    with pytest.raises(CsvInputError, match="line 2: unknown status 'Asleep'"):
        parse_user_report(b"Emails,Status\nx@y.io,Asleep\n")
    with pytest.raises(CsvInputError, match="line 2: 'not-an-email' is not an email"):
        parse_user_report(b"Emails,Status\nnot-an-email,Active\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse_user_report(data)
    except CsvInputError as error:
        assert str(error).startswith("the report")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.emails(), st.sampled_from(["Active", "Inactive", "active"])),
        min_size=1,
        max_size=20,
    ),
    st.permutations(["First Name", "Emails", "Status", "Role"]),
)
def test_written_reports_read_back_in_any_column_order(
    people: list[tuple[str, str]], header: list[str]
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for email, status in people:
        row = {"First Name": "X, Y", "Emails": email, "Status": status, "Role": "Collaborator"}
        writer.writerow([row[h] for h in header])
    report = parse_user_report(("\ufeff" + out.getvalue()).encode())
    assert report.active_emails == {e.lower() for e, s in people if s.lower() == "active"}
