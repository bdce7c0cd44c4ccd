"""Files attached to a profile, such as Roadmunk's "Download User CSV" report.

An attached user report decides who holds a seat: from then on only the users the latest
report lists as active count as subscriptions. A report is parsed strictly before anything is
stored; a bad file is refused with its line number and the previous report stays in force.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.connectors.roadmunk import REPORT_OPTION, parse_user_report
from shelfware.kit.clock import Clock
from shelfware.models import IntegrationProfile
from shelfware.profiles.service import ProfileError

# Option keys an attachment sets (hidden from profile views: they can be large).
REPORT_ACTIVE = REPORT_OPTION
REPORT_SUMMARY = "_user_report"
HIDDEN_PREFIX = "_"
KINDS_WITH_USER_REPORT = frozenset({"roadmunk"})


def attach_user_report(
    session: Session, clock: Clock, profile: IntegrationProfile, data: bytes, filename: str
) -> dict[str, object]:
    """Store the active users of a user report on the profile; returns what was attached."""
    if profile.kind not in KINDS_WITH_USER_REPORT:
        raise ProfileError(
            f"profile {profile.name!r} ({profile.kind}) takes no user report; "
            f"only {', '.join(sorted(KINDS_WITH_USER_REPORT))} profiles do"
        )
    report = parse_user_report(data)  # raises CsvInputError naming the line
    summary: dict[str, object] = {
        "file": filename,
        "rows": report.rows,
        "active": len(report.active_emails),
        "attached_at": clock.now().isoformat(),
    }
    options = dict(profile.options or {})
    options[REPORT_ACTIVE] = "\n".join(sorted(report.active_emails))
    options[REPORT_SUMMARY] = summary
    profile.options = options
    profile.updated_at = clock.now()
    audit.record(
        session,
        clock,
        action="profile.attach",
        object_type="profile",
        object_id=profile.id,
        file=filename,
        rows=report.rows,
        active=len(report.active_emails),
    )
    return summary
