"""What every request of `shelfware serve` needs: the store and the clock.

``serve.create_app`` puts one :class:`Workspace` on ``app.state.workspace`` (and on the mounted
API's state); the API and the web pages take it from ``request.app.state.workspace``. Requests
own their transactions: ``read()`` for a look, ``write(actor)`` for a change, which also names
the actor in every audit event recorded inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shelfware.audit.service import acting_as
from shelfware.kit.clock import Clock, SystemClock
from shelfware.store import Store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass
class Workspace:
    store: Store
    clock: Clock = field(default_factory=SystemClock)
    # Room for what the faces share at run time (e.g. pending OAuth authorisations).
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
