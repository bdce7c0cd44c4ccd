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
from shelfware.kit.db import Database
from shelfware.profiles import authorization
from shelfware.profiles.oauth import CALLBACK_TIMEOUT, PendingAuthorization
from shelfware.store import Store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class PendingAuthorizations:
    """OAuth authorizations started from the API or a page, waiting for the redirect to
    ``/oauth/callback``: by ``state``, for :data:`CALLBACK_TIMEOUT` seconds, taken once. Held
    in the database (``profiles.authorization.hold_pending``), so the callback may reach any
    process of ``shelfware serve --workers N``."""

    def __init__(self, db: Database, timeout: float = CALLBACK_TIMEOUT) -> None:
        self._db = db
        self._timeout = timeout

    def add(self, profile: str, pending: PendingAuthorization) -> None:
        authorization.hold_pending(self._db, profile, pending, self._timeout)

    def take(self, state: str) -> tuple[str, PendingAuthorization] | None:
        """(profile name, pending authorization) for ``state``, once; None when unknown or
        expired."""
        return authorization.take_pending(self._db, state, self._timeout)


@dataclass
class Workspace:
    store: Store
    clock: Clock = field(default_factory=SystemClock)
    authorizations: PendingAuthorizations = field(init=False)
    # Room for what the faces share at run time.
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.authorizations = PendingAuthorizations(self.store.db)

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
