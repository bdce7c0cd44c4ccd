"""CLI commands the connectors brought: regions, custom specs, the JSON Schema, user reports."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import assert_one_line_error, invoke

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_region_picks_the_gateway_and_a_bad_one_is_refused(home: Path) -> None:
    made = invoke(
        home, "profile", "create", "roadmunk", "--name", "rm", "--region", "eu", "--secret-env", "K"
    )
    assert made.code == 0 and "https://eu-gateway.roadmunk.com" in made.stdout
    assert_one_line_error(
        invoke(
            home,
            "profile",
            "create",
            "roadmunk",
            "--name",
            "x",
            "--region",
            "mars",
            "--secret-env",
            "K",
        ),
        "unknown Roadmunk region 'mars'",
    )


def test_a_user_report_is_attached_or_refused_with_its_line(home: Path, tmp_path: Path) -> None:
    invoke(home, "profile", "create", "roadmunk", "--name", "rm", "--secret-env", "K")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xef\xbb\xbfEmails,Status\r\na@x.io,Active\r\nb@x.io,Maybe\r\n")
    assert_one_line_error(invoke(home, "profile", "attach", "rm", str(bad)), "line 3")
    shown = json.loads(invoke(home, "profile", "show", "rm", "--json").stdout)
    assert "user_report" not in shown["options"]  # nothing was attached
    good = tmp_path / "good.csv"
    good.write_text("Status,Emails,Shoe\nActive,a@x.io,42\nInactive,b@x.io,43\n")
    attached = invoke(home, "profile", "attach", "rm", str(good))
    assert attached.code == 0 and "2 users listed, 1 active" in attached.stdout
    shown = json.loads(invoke(home, "profile", "show", "rm", "--json").stdout)
    assert shown["options"]["user_report"]["active"] == 1
    assert "a@x.io" not in json.dumps(shown)  # the report's data is never shown
    assert_one_line_error(
        invoke(home, "profile", "attach", "rally-main", str(good)), "takes no user report"
    )


def test_custom_profiles_need_a_valid_spec_and_the_schema_is_published(
    home: Path, tmp_path: Path
) -> None:
    schema = json.loads(invoke(home, "connectors", "schema", "custom").stdout)
    assert schema["title"] == "shelfware custom integration spec"
    assert_one_line_error(
        invoke(
            home,
            "profile",
            "create",
            "custom",
            "--name",
            "c",
            "--url",
            "https://api.acme.example",
            "--secret-env",
            "K",
        ),
        "needs --spec",
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text((EXAMPLES / "acme.yaml").read_text().replace("type: cursor", "type: scroll"))
    assert_one_line_error(
        invoke(
            home,
            "profile",
            "create",
            "custom",
            "--name",
            "c",
            "--url",
            "https://api.acme.example",
            "--secret-env",
            "K",
            "--spec",
            str(broken),
        ),
        "streams.accounts.pagination",
    )
    made = invoke(
        home,
        "profile",
        "create",
        "custom",
        "--name",
        "c",
        "--url",
        "https://api.acme.example",
        "--secret-env",
        "K",
        "--spec",
        str(EXAMPLES / "acme.yaml"),
    )
    assert made.code == 0, made
    shown = json.loads(invoke(home, "profile", "show", "c", "--json").stdout)
    assert shown["options"]["spec"].startswith("custom spec")
