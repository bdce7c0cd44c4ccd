"""kit.kept: a value kept with its data's version; one background rebuild when it changes,
the previous value (marked) to whoever cannot wait for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from shelfware.kit.kept import Kept


class Builder:
    """Builds "v<version>" values; ``gate`` holds a build until it is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def of(self, version: int) -> Callable[[], tuple[int, str]]:
        def build() -> tuple[int, str]:
            with self.lock:
                self.calls += 1
            assert self.gate.wait(10)
            return version, f"v{version}"

        return build


def test_a_current_value_is_answered_without_a_build() -> None:
    kept: Kept[int, str] = Kept(wait=0.05)
    b = Builder()
    first = kept.get("k", 1, b.of(1))
    again = kept.get("k", 1, b.of(1))
    assert (first.value, first.current, again.value, again.current) == ("v1", True, "v1", True)
    assert b.calls == 1


def test_a_cheap_rebuild_is_waited_for_and_answered_current() -> None:
    kept: Kept[int, str] = Kept(wait=5)
    b = Builder()
    kept.get("k", 1, b.of(1))
    answer = kept.get("k", 2, b.of(2))
    assert (answer.value, answer.current) == ("v2", True)


def test_a_slow_rebuild_answers_the_previous_value_and_runs_once() -> None:
    kept: Kept[int, str] = Kept(wait=0.05)
    b = Builder()
    kept.get("k", 1, b.of(1))
    b.gate.clear()  # the rebuild takes as long as the test says
    started = time.monotonic()
    answers = [kept.get("k", 2, b.of(2)) for _ in range(5)]
    assert time.monotonic() - started < 2  # nobody waited for the build
    assert {(a.value, a.current) for a in answers} == {("v1", False)}
    assert b.calls == 2  # the first build, then one rebuild for the five asks
    b.gate.set()
    deadline = time.monotonic() + 5
    while (answer := kept.get("k", 2, b.of(2))).value != "v2":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert answer.current and b.calls == 2


def test_concurrent_first_asks_share_one_build() -> None:
    kept: Kept[int, str] = Kept(wait=0)
    b = Builder()
    b.gate.clear()
    results: list[tuple[str, bool]] = []

    def ask() -> None:
        a = kept.get("k", 1, b.of(1))
        results.append((a.value, a.current))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    assert results == []  # the first value is always waited for
    b.gate.set()
    for t in threads:
        t.join(5)
    assert results == [("v1", True)] * 4 and b.calls == 1


def test_a_failed_first_build_is_raised_and_a_failed_rebuild_keeps_the_old_value() -> None:
    kept: Kept[int, str] = Kept(wait=5)

    def broken() -> tuple[int, str]:
        raise LookupError("no such person")

    with pytest.raises(LookupError, match="no such person"):
        kept.get("k", 1, broken)
    kept.get("k", 1, lambda: (1, "v1"))
    answer = kept.get("k", 2, broken)
    assert (answer.value, answer.current) == ("v1", False)
    assert kept.get("k", 2, lambda: (2, "v2")).value == "v2"  # the next ask builds again


def test_the_least_recently_asked_is_dropped_past_the_limit() -> None:
    kept: Kept[int, str] = Kept(limit=2, wait=5)
    b = Builder()
    kept.get("a", 1, b.of(1))
    kept.get("b", 1, b.of(1))
    kept.get("a", 1, b.of(1))  # a asked last
    kept.get("c", 1, b.of(1))
    calls = b.calls
    kept.get("a", 1, b.of(1))
    assert b.calls == calls  # still kept
    kept.get("b", 1, b.of(1))
    assert b.calls == calls + 1  # dropped, built again


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        Kept(limit=0)
    with pytest.raises(ValueError, match="wait"):
        Kept(wait=-1)
