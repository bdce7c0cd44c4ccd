"""Input and output shapes of reclamation: rules, candidates, reclaim outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shelfware.kit.addresses import parse_email
from shelfware.ranges import MAX_LIST, MAX_NAME, Days, Id, Name, ThresholdDays, View, printable

# A user name, an email or a domain in an exclusion list.
Excluded = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME),
    AfterValidator(printable),
    AfterValidator(lambda v: _nonblank(v.strip().lower())),
]

# An approver: exactly one valid email address (a "keep" is mailed to each of them).
Approver = Annotated[Excluded, AfterValidator(parse_email)]


def _nonblank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


class RuleView(View):
    id: int
    software_model: str
    threshold_days: int
    notify: bool
    auto_reclaim_days: int
    approval_required: bool
    exclude_admins: bool
    excluded_users: list[str]
    excluded_domains: list[str]
    excluded_groups: list[str]
    service_account_patterns: list[str]
    approvers: list[str]
    new_account_grace: bool
    active: bool
    keep_days: int
    updated_at: datetime
    # "remove" (idle seats) or "downgrade" (light users move to `target_model`)
    kind: str = "remove"
    target_model: str | None = None
    max_active_days: int | None = None
    max_events: int | None = None
    window_days: int | None = None


MAX_EVENTS = 1_000_000


class RuleChange(BaseModel):
    """A change to one software model's rule; ``None`` leaves a setting as it is.

    ``exclude_users`` / ``exclude_domains`` add to the rule's lists; ``include_users`` /
    ``include_domains`` take entries out of them.
    """

    model_config = ConfigDict(extra="forbid")

    model: Name
    threshold_days: ThresholdDays | None = None
    notify: bool | None = None
    auto_reclaim_days: Days | None = None
    approval_required: bool | None = None
    exclude_admins: bool | None = None
    new_account_grace: bool | None = None
    active: bool | None = None
    # days a seat its user or an approver chose to keep is no candidate (1..3650, like the
    # threshold)
    keep_days: ThresholdDays | None = None
    exclude_users: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_domains: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    include_users: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    include_domains: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_groups: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    include_groups: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_patterns: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    include_patterns: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    add_approvers: list[Approver] = Field(default_factory=list, max_length=MAX_LIST)
    remove_approvers: list[Excluded] = Field(default_factory=list, max_length=MAX_LIST)
    # which of the model's rules: "remove" (the default) or "downgrade"; a downgrade rule
    # names the edition to move light users to and what light is (fewer than N active days
    # and/or N activity events in the last D days)
    kind: Literal["remove", "downgrade"] = "remove"
    to_model: Name | None = None
    max_active_days: ThresholdDays | None = None
    max_events: Annotated[int, Field(ge=1, le=MAX_EVENTS)] | None = None
    window_days: ThresholdDays | None = None
    # thresholds taken off the downgrade rule (the other must remain): a form showing the
    # rule whole sends a blank one this way
    clear: list[Literal["max_active_days", "max_events"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _downgrade_settings(self) -> RuleChange:
        if self.kind == "remove":
            given = [
                name
                for name in ("to_model", "max_active_days", "max_events", "window_days", "clear")
                if getattr(self, name)
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} belong to a downgrade rule: add kind downgrade"
                )
        return self


class CandidateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Name | None = None
    profile: Name | None = None


class CandidateView(View):
    id: int
    profile: str
    external_id: str
    username: str | None
    email: str | None
    software_model: str
    state: str
    justification: str
    inactive_days: int | None
    last_activity_at: datetime | None
    potential_savings: float | None
    created_at: datetime
    reason: str | None
    last_error: str | None
    deadline_at: datetime | None = None
    answer: str | None = None
    approver: str | None = None
    approved_at: datetime | None = None
    realised_saving: float | None = None
    # the seat's user or an approver chose to keep it: no new candidate before this instant
    kept_until: datetime | None = None
    # "remove" the seat, or "downgrade" it to `target_model` (an edition of the same app)
    action: str = "remove"
    target_model: str | None = None

    @property
    def what(self) -> str:
        """What happens to the seat, as every face says it."""
        if self.action == "downgrade":
            return f"move to {self.target_model or 'another edition'}"
        return "remove"


CANDIDATE_PAGE_LIMIT = 500


class CandidatePage(View):
    """One page of the removal candidates queue, paged by an opaque cursor (keyset paging:
    every page costs the same, however many candidates)."""

    items: list[CandidateView]
    next_cursor: str | None


class CandidateTotals(View):
    """What a filter of the queue selects: how many candidates and their potential savings a
    year per currency (``unpriced``: candidates without a known saving)."""

    count: int
    annual: dict[str, float]
    unpriced: int = 0


class RuleSelection(View):
    """An account a rule selects right now (``rules dry-run``); a seat its user or an approver
    chose to keep is listed with ``kept_until`` and ``selected`` false (no candidate before
    then)."""

    profile: str
    external_id: str
    username: str | None
    email: str | None
    justification: str
    inactive_days: int | None
    open_candidate: str | None  # the state of its open candidate, if it has one
    selected: bool = True
    kept_until: datetime | None = None


class DowngradeSelection(View):
    """A seat a downgrade rule selects now: its activity in the rule's window."""

    profile: str
    external_id: str
    username: str | None
    email: str | None
    active_days: int
    events: int
    open_candidate: str | None
    selected: bool = True
    kept_until: datetime | None = None


class DowngradeDryRun(View):
    """What a downgrade rule selects now, and how many seats it could not judge: seats of
    profiles without event-based activity covering the window (``no_activity_data``: never
    proposed) and seats with no activity in the window (``idle``: for the removal rule)."""

    software_model: str
    target_model: str
    window_days: int
    annual_saving_per_seat: float | None
    selections: list[DowngradeSelection]
    no_activity_data: int = 0
    idle: int = 0
    # the saving's currency (None: no saving known), and the saving a year of the seats
    # selected, per currency (a preview of a change says which settings it would alter)
    currency: str | None = None
    annual: dict[str, float] = Field(default_factory=dict)
    changed: list[str] = Field(default_factory=list)


class RulePreview(View):
    """What a rule (with a change not yet saved) would select now: the dry run's accounts,
    how many are selected and kept, and their seats' money a year per currency."""

    accounts: list[RuleSelection]
    selected: int
    kept: int
    annual: dict[str, float]
    unpriced: int = 0  # selected seats of a model without a price
    changed: list[str] = Field(default_factory=list)  # the settings the change would alter
    next_cursor: str | None = None  # ``accounts`` is a page: the next one's cursor


class ReclaimRequest(BaseModel):
    """Which candidates to reclaim: named ids (1..2^63-1, at most 10,000) or every ready one."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    all_ready: bool = False
    dry_run: bool = False
    force: bool = False
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _which(self) -> ReclaimRequest:
        if not self.ids and not self.all_ready:
            raise ValueError("name candidate ids, or use --all-ready")
        if self.ids and self.all_ready:
            raise ValueError("name candidate ids or use --all-ready, not both")
        if self.force and not self.reason.strip():
            raise ValueError("--force needs --reason TEXT (it is recorded in the audit trail)")
        return self


class ReclaimOutcomeView(View):
    candidate_id: int
    profile: str
    username: str | None
    # reclaimed | already_gone | canceled | failed | unreachable | not_attempted
    # | would_reclaim | would_cancel (dry run)
    action: str
    state: str
    message: str = ""


class ReclaimSummary(View):
    """What a reclaim frees: seats, the apps they belong to, and money a year per currency
    (``unpriced``: seats of models without a price)."""

    seats: int
    apps: list[str]
    annual: dict[str, float]
    unpriced: int = 0
