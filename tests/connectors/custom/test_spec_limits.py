"""Custom specs are bounded: YAML anchors and aliases are refused (a few hundred bytes of
aliases expand to hundreds of megabytes: "billion laughs"), nesting is bounded, and a spec
(YAML or JSON) larger than the limit is refused before it is read; nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelfware.connectors.custom.spec import (
    MAX_SPEC_BYTES,
    MAX_SPEC_DEPTH,
    SpecError,
    parse_spec,
    read_spec_file,
)
from tests.cli.conftest import assert_one_line_error, invoke
from tests.cli.conftest import home as home

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ACME = (EXAMPLES / "acme.yaml").read_text()


def laughs(levels: int) -> str:
    """The acme example with a reclaim body of nested aliases: 9**levels strings once expanded."""
    lines = ['      l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        refs = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"      l{i}: &l{i} [{refs}]")
    body = "\n".join(lines)
    spec = ACME.replace("    success: [204]", f"    body:\n{body}\n    success: [204]")
    assert spec != ACME
    return spec


def test_aliases_are_refused_with_the_problem_named() -> None:
    small = laughs(3)  # today: accepted, and stored expanded (6,561 strings)
    with pytest.raises(SpecError, match=r"YAML anchor or alias \(&l0, line \d+\)"):
        parse_spec(small)
    bomb = laughs(9)  # 387,420,489 strings once expanded; refused at once
    assert len(bomb.encode()) < 4_000
    with pytest.raises(SpecError, match="anchors, aliases and merge keys are not allowed"):
        parse_spec(bomb)


def test_a_lone_alias_and_a_merge_key_are_refused_too() -> None:
    merge = ACME.replace(
        "    success: [204]",
        "    body: {<<: {a: 1}, b: 2}\n    success: [204]",
    )
    parse_spec(merge)  # a merge key without an alias is plain YAML
    with pytest.raises(SpecError, match=r"alias \(\*nowhere"):
        parse_spec(
            ACME.replace("    success: [204]", "    body: {a: *nowhere}\n    success: [204]")
        )


def test_nesting_is_bounded_for_yaml_and_json() -> None:
    deep = {"x": 1}
    for _ in range(MAX_SPEC_DEPTH + 5):
        deep = {"x": deep}
    spec = json.loads(json.dumps(base := {"app": {"publisher": "A", "product": "B"}}))
    spec["auth"] = {"type": "api_key", "name": "K"}
    spec["streams"] = {
        "accounts": {
            "request": {"path": "/v1/m", "body": deep},
            "records": "$.items",
            "fields": {"external_id": {"path": "$.id"}},
        }
    }
    assert base
    with pytest.raises(SpecError, match=f"nested deeper than {MAX_SPEC_DEPTH} levels"):
        parse_spec(json.dumps(spec))
    with pytest.raises(SpecError, match="nested deeper"):
        parse_spec("[" * 100_000 + "]" * 100_000)  # would exhaust the parser's recursion


def test_the_size_limit_holds_for_yaml_and_json_and_files_are_read_bounded(
    tmp_path: Path,
) -> None:
    as_json = json.dumps({"app": {"publisher": "A" * MAX_SPEC_BYTES, "product": "B"}})
    with pytest.raises(SpecError, match=f"at most {MAX_SPEC_BYTES:,}"):
        parse_spec(as_json)
    with pytest.raises(SpecError, match=f"at most {MAX_SPEC_BYTES:,}"):
        parse_spec("# " + "x" * MAX_SPEC_BYTES + "\n" + ACME)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(2**40)  # a sparse terabyte: reading it whole would never end
    with pytest.raises(SpecError, match="larger than"):
        read_spec_file(huge)
    assert read_spec_file(EXAMPLES / "acme.yaml") == ACME.encode()


def test_the_cli_refuses_a_bomb_and_stores_nothing(home: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(laughs(9))
    huge = tmp_path / "huge.json"
    with huge.open("wb") as out:
        out.truncate(2**40)
    for spec, said in ((bomb, "anchor or alias"), (huge, "larger than")):
        ran = invoke(
            home, "profile", "create", "custom", "--name", "c", "--url",
            "https://api.acme.example", "--secret-env", "K", "--spec", str(spec),
        )  # fmt: skip
        assert_one_line_error(ran, said)
    listed = json.loads(invoke(home, "profile", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["rally-main"]  # nothing stored
