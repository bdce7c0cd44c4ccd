"""Ready candidates of a rule that does not notify: nobody was told, so the periodic step
leaves them to a person unless `auto_reclaim_unnotified` is on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shelfware.notifications.service import Notifier
from shelfware.reclamation import rules, workflow
from shelfware.reclamation.schemas import RuleChange
from tests.reclamation.conftest import MODEL


async def test_unnotified_ready_candidates_wait_for_a_person_by_default(world: Any) -> None:
    with world.db.transaction() as s:
        rules.set_rule(s, world.clock, RuleChange(model=MODEL, notify=False, auto_reclaim_days=7))
    ready = world.candidates("ready")
    assert ready
    world.clock.advance(timedelta(days=8))

    report = await world.advance()
    assert report.due == [] and not world.mailbox.messages
    assert len(world.candidates("ready")) == len(ready)
    assert not any(world.user(c).disabled for c in ready)

    opted_in = Notifier(
        world.notifier.settings.model_copy(update={"auto_reclaim_unnotified": True})
    )
    report = await workflow.advance(world.db, world.keys, world.clock, opted_in)
    assert sorted(report.due) == sorted(c["id"] for c in ready)
    assert all(world.user(c).disabled for c in ready)
