"""The whole CLI surface under hostile values (hypothesis): every refusal is one clear line on
stderr with a non-zero exit, never a traceback, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.conftest import MODEL, PROFILE, assert_one_line_error, invoke, seed_home
from tests.cli.test_errors_and_ranges import rule_and_entitlements

control = st.text(st.characters(max_codepoint=31), min_size=1, max_size=3)
with_control = st.builds(
    lambda a, c, b: a + c + b, st.text(max_size=5), control, st.text(max_size=5)
)
huge = st.integers(min_value=2**63, max_value=10**40).map(str)
negative = st.integers(max_value=-1, min_value=-(10**30)).map(str)
not_finite = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
# (Unicode digits such as "١٢" are numbers to Python and pydantic alike: 12, so not hostile.)
# (A number padded with whitespace such as "1\n" is still the number 1, so not hostile.)
not_a_number = st.sampled_from(["", " ", "ten", "1,5", "0x10", "--", "½", "1\x1f"]) | (
    with_control.filter(lambda v: not any(ch.isdigit() for ch in v))
)
bad_int = huge | negative | not_finite | not_a_number | st.sampled_from(["1.5", "1e3"])
bad_days = bad_int | st.sampled_from(["0", "3651", "99999999999999"])
bad_id = bad_int | st.just("0")
bad_port = bad_int | st.sampled_from(["0", "65536", "99999"])
bad_cost = (
    negative
    | not_finite
    | not_a_number
    | st.sampled_from(["1e308", "1000000.01", "0.00001", "-0.01", "1e-9", "99999999999999999999"])
)
bad_name = with_control | st.just("") | st.text(min_size=201, max_size=300).filter(str.isprintable)
bad_date = (
    st.sampled_from(
        [
            "2026-13-01",
            "2026-02-30",
            "0000-00-00",
            "yesterday",
            "99999-01-01",
            "",
            "1969-12-31",
            "2026/01/01",
            "0001-01-01",
        ]
    )
    | with_control
)
bad_url = st.sampled_from(
    [
        "https://host:99999/x",
        "https://host:0/",
        "https://host:-1/",
        "ftp://host/",
        "http://example.com/",
        "https://",
        "https://user:pw@host/",
        "//host/",
        "host",
        "https://ho st/",
        "javascript:alert(1)",
        "",
    ]
) | with_control.map(lambda t: "https://h" + t + "/")

# A command template per entry point, each with one slot for a hostile value.
Template = Callable[[str], list[str]]
CASES: list[tuple[str, st.SearchStrategy[str], Template]] = [
    ("rules threshold", bad_days, lambda v: ["rules", "set", MODEL, "--threshold-days", v]),
    (
        "rules auto-reclaim",
        bad_int | st.just("3651"),
        lambda v: ["rules", "set", MODEL, "--auto-reclaim-days", v],
    ),
    ("rules model", bad_name, lambda v: ["rules", "set", v, "--threshold-days", "30"]),
    ("rules exclude", bad_name, lambda v: ["rules", "set", MODEL, "--exclude-user", v]),
    ("rules domain", bad_name, lambda v: ["rules", "set", MODEL, "--exclude-domain", v]),
    (
        "seats",
        bad_int | st.just("10000001"),
        lambda v: ["entitlements", "add", "--model", MODEL, "--seats", v, "--unit-cost", "1"],
    ),
    (
        "unit cost",
        bad_cost,
        lambda v: ["entitlements", "add", "--model", MODEL, "--seats", "1", "--unit-cost", v],
    ),
    (
        "term start",
        bad_date,
        lambda v: [
            "entitlements",
            "add",
            "--model",
            MODEL,
            "--seats",
            "1",
            "--unit-cost",
            "1",
            "--start",
            v,
        ],
    ),
    (
        "currency",
        bad_name | st.sampled_from(["US", "EURO", "12$"]),
        lambda v: [
            "entitlements",
            "add",
            "--model",
            MODEL,
            "--seats",
            "1",
            "--unit-cost",
            "1",
            "--currency",
            v,
        ],
    ),
    (
        "contract",
        bad_name,
        lambda v: [
            "entitlements",
            "add",
            "--model",
            MODEL,
            "--seats",
            "1",
            "--unit-cost",
            "1",
            "--contract",
            v,
        ],
    ),
    (
        "entitlement model",
        bad_name,
        lambda v: ["entitlements", "add", "--model", v, "--seats", "1", "--unit-cost", "1"],
    ),
    ("reclaim id", bad_id, lambda v: ["candidates", "reclaim", v]),
    ("candidate state", bad_name | st.just("nope"), lambda v: ["candidates", "list", "--state", v]),
    ("candidate profile", bad_name, lambda v: ["candidates", "list", "--profile", v]),
    ("limit", bad_int | st.just("0"), lambda v: ["candidates", "list", "--limit", v]),
    ("subscriptions profile", bad_name, lambda v: ["subscriptions", "list", "--profile", v]),
    (
        "profile name",
        bad_name,
        lambda v: ["profile", "create", "rally", "--name", v, "--secret-env", "K"],
    ),
    (
        "profile url",
        bad_url,
        lambda v: ["profile", "create", "rally", "--name", "n", "--url", v, "--secret-env", "K"],
    ),
    (
        "profile kind",
        bad_name | st.just("nope"),
        lambda v: ["profile", "create", v, "--name", "n", "--secret-env", "K"],
    ),
    (
        "profile region",
        with_control,
        lambda v: ["profile", "create", "rally", "--name", "n", "--region", v, "--secret-env", "K"],
    ),
    (
        "profile option",
        with_control | st.sampled_from(["=v", "novalue", " =x"]),
        lambda v: ["profile", "create", "rally", "--name", "n", "--option", v, "--secret-env", "K"],
    ),
    (
        "profile auth",
        bad_name | st.just("oauth"),
        lambda v: ["profile", "create", "rally", "--name", "n", "--auth", v, "--secret-env", "K"],
    ),
    (
        "secret env",
        with_control | st.just("UNSET_VARIABLE_X"),
        lambda v: ["profile", "create", "rally", "--name", "n", "--secret-env", v],
    ),
    ("profile show", bad_name, lambda v: ["profile", "show", v]),
    ("profile validate", bad_name, lambda v: ["profile", "validate", v]),
    ("profile publish", bad_name, lambda v: ["profile", "publish", v]),
    ("profile delete", bad_name, lambda v: ["profile", "delete", v, "--yes"]),
    ("analyze from", bad_date, lambda v: ["profile", "set", PROFILE, "--analyze-from", v]),
    ("sync", bad_name, lambda v: ["sync", v]),
    ("sandbox port", bad_port, lambda v: ["sandbox", "rally", "--port", v]),
    ("sandbox users", bad_int | st.just("0"), lambda v: ["sandbox", "rally", "--users", v]),
    (
        "sandbox latency",
        negative | not_finite | not_a_number | st.just("60001"),
        lambda v: ["sandbox", "rally", "--latency-ms", v],
    ),
    ("sandbox seed", negative | huge, lambda v: ["sandbox", "rally", "--seed", v]),
    ("sandbox host", with_control | st.just(""), lambda v: ["sandbox", "rally", "--host", v]),
    ("sandbox vendor", bad_name | st.just("nope"), lambda v: ["sandbox", v]),
    (
        "sandbox faults",
        with_control | st.sampled_from(["x=1", "error_rate", "error_rate=abc"]),
        lambda v: ["sandbox", "rally", "--faults", v, "--port", "0"],
    ),
    ("demo users", bad_int | st.just("9"), lambda v: ["demo", "--users", v]),
    (
        "clock",
        # an environment variable cannot hold NUL; an empty one means "the wall clock"
        (with_control | bad_date | st.just("0001-01-01T00:00:00")).filter(
            lambda v: v and "\x00" not in v
        ),
        lambda v: ["reconcile", "--clock-from-env", v],
    ),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hostile") / "home"
    seed_home(home)
    return home


@pytest.mark.parametrize(("name", "values", "template"), CASES, ids=[c[0] for c in CASES])
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_values_get_one_line_and_change_nothing(seeded, name, values, template, data):
    before = rule_and_entitlements(seeded)
    value = data.draw(values, label=name)
    args = template(value)
    env = None
    if args[:2] == ["reconcile", "--clock-from-env"]:  # SHELFWARE_CLOCK is input too
        args, env = ["reconcile"], {"SHELFWARE_CLOCK": value}
    assert_one_line_error(invoke(seeded, *args, env=env))
    assert rule_and_entitlements(seeded) == before
