"""Rule evaluation stays linear: the "no open candidate yet" check uses the partial unique
index on both stores (a scan there made an unchanged re-sync of 100,000 users 2.4x slower
than the first sync)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from shelfware.models import IntegrationProfile
from shelfware.sync.service import sync_profile
from tests.helpers import published_rally

pytestmark = pytest.mark.store

OPEN_INDEX = "uq_removal_candidate_open"


def _plan(db, statement: str, parameters: Any) -> str:  # type: ignore[no-untyped-def]
    """The store's own plan for a statement the sync executed, as one text."""
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        if db.engine.dialect.name == "sqlite":
            rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            return "\n".join(str(row[-1]) for row in rows)
        with raw.cursor() as cursor:
            # Make any usable index win over a scan, so the assertion is about whether the
            # index applies at all, not about the cost of a tiny table.
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
            return "\n".join(row[0] for row in cursor.fetchall())


async def test_open_candidate_check_uses_the_partial_index(db, keys, clock, rally_factory):
    sandbox = rally_factory(users=300, seed=4)
    await published_rally(db, keys, clock, sandbox.url, sandbox.org.api_key)
    first = await sync_profile(db, keys, clock, "rally")
    assert first.candidates_created > 0  # open candidates exist for the check to look at
    # an unchanged re-sync evaluates no seat (reclamation/rules_delta.py): without the
    # watermark the next evaluation is a full one, every statement over every seat
    with db.transaction() as session:
        session.execute(update(IntegrationProfile).values(rules_evaluated_at=None))

    executed: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not executemany and "removal_candidate" in statement:
            executed.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        clock.advance(timedelta(minutes=5))
        await sync_profile(db, keys, clock, "rally")
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)

    creates = [
        (s, p)
        for s, p in executed
        if s.lstrip().upper().startswith("INSERT INTO REMOVAL_CANDIDATE")
    ]
    assert creates, "rule evaluation ran no candidate INSERT"
    for statement, parameters in creates:
        plan = _plan(db, statement, parameters)
        assert OPEN_INDEX in plan, plan
    # the open-candidate updates (reprice, cancel, close) never scan the whole table either
    updates = [
        (s, p) for s, p in executed if s.lstrip().upper().startswith("UPDATE REMOVAL_CANDIDATE")
    ]
    assert len(updates) >= 3
    for statement, parameters in updates:
        plan = _plan(db, statement, parameters)
        assert "SCAN removal_candidate\n" not in plan + "\n", plan
        assert "Seq Scan on removal_candidate" not in plan, plan
