"""SQLAlchemy ORM models, one module per aggregate."""

from shelfware.models.account import (
    ApiToken,
    SamlAssertion,
    ScimGroup,
    ScimGroupMember,
    SignInSession,
    SsoAttempt,
    User,
)
from shelfware.models.audit import AuditEvent
from shelfware.models.base import Base
from shelfware.models.entitlement import CalendarFeed, CommitmentChange, Entitlement, RenewalAlert
from shelfware.models.job import Job, JobState, SchedulerLease
from shelfware.models.person import DomainAlias, Person, PersonGroup
from shelfware.models.profile import Credential, IntegrationProfile, OAuthAttempt, ProfileStatus
from shelfware.models.reclaim_ledger import ReclaimLedgerEntry
from shelfware.models.reclamation import (
    CLOSED_STATES,
    OPEN_STATES,
    ActivityDay,
    CandidateAction,
    CandidateState,
    Justification,
    ReclamationRule,
    RemovalCandidate,
    RuleKind,
    is_open_candidate,
)
from shelfware.models.reconciliation import ReconciliationPosition, ReconciliationRun
from shelfware.models.review import Decision, ReviewCampaign, ReviewItem
from shelfware.models.run import RunStatus, SyncRun
from shelfware.models.software import SoftwareModel
from shelfware.models.subscription import StagedAccount, Subscription

__all__ = [
    "CLOSED_STATES",
    "OPEN_STATES",
    "ActivityDay",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CalendarFeed",
    "CandidateAction",
    "CandidateState",
    "CommitmentChange",
    "Credential",
    "Decision",
    "DomainAlias",
    "Entitlement",
    "IntegrationProfile",
    "Job",
    "JobState",
    "Justification",
    "OAuthAttempt",
    "Person",
    "PersonGroup",
    "ProfileStatus",
    "ReclaimLedgerEntry",
    "ReclamationRule",
    "ReconciliationPosition",
    "ReconciliationRun",
    "RemovalCandidate",
    "RenewalAlert",
    "ReviewCampaign",
    "ReviewItem",
    "RuleKind",
    "RunStatus",
    "SamlAssertion",
    "SchedulerLease",
    "ScimGroup",
    "ScimGroupMember",
    "SignInSession",
    "SoftwareModel",
    "SsoAttempt",
    "StagedAccount",
    "Subscription",
    "SyncRun",
    "User",
    "is_open_candidate",
]
