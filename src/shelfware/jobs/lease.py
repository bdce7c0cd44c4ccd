"""A named lease in the database: one holder at a time until it lapses.

The schedule tick runs only in the process holding the ``schedule`` lease, however many
processes tick (``shelfware serve``, ``shelfware worker --beat``, ``shelfware jobs run-due``).
Taking or renewing it is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement, atomic
on PostgreSQL (the conflicting row is locked) and on SQLite (one writer): the row is written
only when it is new, already ours, or lapsed, and ``RETURNING`` says whether it was. A holder
that dies stops renewing; once ``expires_at`` passes (by the injected clock) the next
candidate takes it over."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import delete

from shelfware.kit.clock import Clock
from shelfware.kit.db import Database, insert_for
from shelfware.models import SchedulerLease

SCHEDULE = "schedule"
_INSTANCE = uuid.uuid4().hex[:12]  # this process; a pid alone repeats across hosts


def holder_name() -> str:
    """``host:pid:instance``: unique to this process, whatever machine or container."""
    return f"{socket.gethostname()}:{os.getpid()}:{_INSTANCE}"


def acquire(db: Database, clock: Clock, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew lease ``name`` for ``holder`` until now + ``ttl``; False while another
    holder's lease runs."""
    now = clock.now()
    with db.transaction() as session:
        table = SchedulerLease.__table__
        statement = insert_for(session.get_bind().dialect.name, table).values(
            name=name, holder=holder, expires_at=now + ttl
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
            where=(table.c.holder == statement.excluded.holder) | (table.c.expires_at <= now),
        ).returning(table.c.holder)
        return session.execute(statement).first() is not None


def release(db: Database, name: str, holder: str) -> None:
    """Give lease ``name`` up at once (a stopping holder), if ``holder`` still has it."""
    with db.transaction() as session:
        session.execute(
            delete(SchedulerLease).where(
                SchedulerLease.name == name, SchedulerLease.holder == holder
            )
        )


def current(db: Database, clock: Clock, name: str) -> str | None:
    """Who holds lease ``name`` now (None when nobody, or it lapsed)."""
    with db.sessions() as session:
        lease = session.get(SchedulerLease, name)
        if lease is None or lease.expires_at <= clock.now():
            return None
        return lease.holder
