"""What every request of `shelfware serve` needs: the store and the clock.

``serve.create_app`` puts one :class:`Workspace` on ``app.state.workspace`` (and on the mounted
API's state); the API and the web pages take it from ``request.app.state.workspace``. Requests
own their transactions: ``read()`` for a look, ``write(actor)`` for a change, which also names
the actor in every audit event recorded inside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shelfware.audit.service import acting_as
from shelfware.kit.clock import Clock, SystemClock
from shelfware.profiles.oauth import CALLBACK_TIMEOUT, PendingAuthorization
from shelfware.store import Store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class PendingAuthorizations:
    """OAuth authorizations started from the API or a page, waiting for the redirect to
    ``/oauth/callback``: by ``state``, for :data:`CALLBACK_TIMEOUT` seconds, taken once."""

    def __init__(self, timeout: float = CALLBACK_TIMEOUT) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, PendingAuthorization]] = {}

    def add(self, profile: str, pending: PendingAuthorization) -> None:
        with self._lock:
            self._expire()
            self._pending[pending.state] = (profile, pending)

    def take(self, state: str) -> tuple[str, PendingAuthorization] | None:
        """(profile name, pending authorization) for ``state``, once; None when unknown or
        expired."""
        with self._lock:
            self._expire()
            return self._pending.pop(state, None)

    def _expire(self) -> None:
        cutoff = time.time() - self._timeout
        for state in [s for s, (_, p) in self._pending.items() if p.created < cutoff]:
            del self._pending[state]


@dataclass
class Workspace:
    store: Store
    clock: Clock = field(default_factory=SystemClock)
    authorizations: PendingAuthorizations = field(default_factory=PendingAuthorizations)
    # Room for what the faces share at run time.
    extras: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.store.db.sessions() as session:
            yield session

    @contextmanager
    def write(self, actor: str) -> Iterator[Session]:
        """One transaction, committed when the block ends without an error; audit events
        recorded inside it name ``actor``."""
        with acting_as(actor), self.store.db.transaction() as session:
            yield session
