"""Values that are costly to build, kept with the version of the data they were built from.

A value whose version still matches is answered at once. When the data changed, one rebuild
starts in a background thread (one per key, however many ask) and the asker waits for it at
most ``wait`` seconds: a cheap rebuild is answered current, a costly one (a report over a
million seats) answers the previous value, marked as not current, until the rebuild lands.
Only the first value of a key is always waited for (there is nothing to show before it), and
concurrent first askers share that one build.

The versions are the caller's (``overview.data_version``: a few index look-ups); a value
built while the data changed again carries the older version and is rebuilt on the next ask.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")
T = TypeVar("T")
LOG = logging.getLogger(__name__)

Build = Callable[[], tuple[V, T]]  # (the version it was built from, the value)


@dataclass
class _Building(Generic[V, T]):
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    current: bool  # False: the previous value, a rebuild under way


class Kept(Generic[V, T]):
    """The last ``limit`` values by key (least recently asked dropped first)."""

    def __init__(self, limit: int = 32, *, wait: float = 0.25) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if wait < 0:
            raise ValueError(f"wait must not be negative, not {wait}")
        self.limit = limit
        self.wait = wait
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, tuple[V, T]] = OrderedDict()
        self._building: dict[Hashable, _Building[V, T]] = {}

    def get(self, key: Hashable, version: V, build: Build[V, T]) -> Answer[T]:
        """The value of ``key`` for data at ``version`` (see the module's words)."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None and found[0] == version:
                self._kept.move_to_end(key)
                return Answer(found[1], True)
            building = self._building.get(key)
            if building is None:
                building = self._building[key] = _Building()
                threading.Thread(
                    target=self._rebuild, args=(key, build, building), daemon=True
                ).start()
        finished = building.done.wait(None if found is None else self.wait)
        if finished:
            if building.error is not None and found is None:
                raise building.error
            with self._lock:
                now = self._kept.get(key)
            if now is not None:
                return Answer(now[1], now[0] == version or found is None)
        assert found is not None
        return Answer(found[1], False)

    def _rebuild(self, key: Hashable, build: Build[V, T], building: _Building[V, T]) -> None:
        try:
            version, value = build()
        except BaseException as exc:  # handed to the askers waiting; the next ask retries
            building.error = exc
            LOG.debug("could not build %r", key, exc_info=exc)
        else:
            with self._lock:
                self._kept[key] = (version, value)
                self._kept.move_to_end(key)
                while len(self._kept) > self.limit:
                    self._kept.popitem(last=False)
        finally:
            with self._lock:
                del self._building[key]
            building.done.set()
