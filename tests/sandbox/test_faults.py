"""Parsing the ``--faults`` option and the deterministic fault dice."""

from __future__ import annotations

import pytest

from shelfware.sandbox.faults import FaultDice, FaultSpec, parse_faults


def test_empty_means_no_faults() -> None:
    assert parse_faults("") == FaultSpec()
    assert parse_faults(" , ") == FaultSpec()


def test_all_keys() -> None:
    spec = parse_faults(
        "latency_ms=50, error_rate=0.05,timeout_rate=0.01,hang_s=2,fail_page=3,"
        "envelope_error_page=2,fail_reclaim=10042,seed=7"
    )
    assert spec == FaultSpec(
        latency_ms=50,
        error_rate=0.05,
        timeout_rate=0.01,
        hang_s=2,
        fail_page=3,
        envelope_error_page=2,
        fail_reclaim=10042,
        seed=7,
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("bogus=1", "bogus"),
        ("error_rate=lots", "error_rate"),
        ("error_rate=1.5", "error_rate"),
        ("timeout_rate=-0.1", "timeout_rate"),
        ("fail_page=0", "fail_page"),
        ("fail_page=2.5", "fail_page"),
        ("latency_ms=-5", "latency_ms"),
        ("seed", "seed"),
        ("seed=", "seed"),
    ],
)
def test_bad_specs_name_the_culprit(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_faults(text)


def test_dice_are_deterministic_and_retries_draw_again() -> None:
    spec = FaultSpec(error_rate=0.5, seed=7)
    keys = [f"GET /user?start={i}" for i in range(200)]
    a, b = FaultDice(spec), FaultDice(spec)
    rolls_a = [a.roll(k) for k in keys]
    assert rolls_a == [b.roll(k) for k in keys]
    assert 60 < rolls_a.count("error") < 140
    assert [a.roll(k) for k in keys] != rolls_a  # a retry gets a fresh draw
    other = FaultDice(FaultSpec(error_rate=0.5, seed=8))
    assert [other.roll(k) for k in keys] != rolls_a
