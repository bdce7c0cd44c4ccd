"""What the overview returns: the dashboard's figures and the workspace's lists."""

from __future__ import annotations

from datetime import date, datetime

from shelfware.ranges import View

BUCKETS = ("0-30", "30-60", "60-90", "90+", "never")


class CurrencyTotals(View):
    """Money figures of one currency (models priced in different currencies never add up)."""

    currency: str
    spend: float
    potential_savings: float  # potential_stale + potential_unassigned
    potential_stale: float  # stale seats: held, idle past their rule's threshold
    potential_unassigned: float  # seats paid for that nobody holds
    # seats freed while the contract is unchanged (``report savings``), to date and this year
    cost_avoidance: float
    cost_avoidance_ytd: float
    # annual committed spend lowered, attributed to freed seats
    realised_savings: float
    realised_savings_ytd: float
    true_up_cost: float
    over_licensed_amount: float


class ModelSeats(View):
    software_model: str
    currency: str
    owned: int
    assigned: int
    stale: int
    status: str
    potential_savings: float | None
    savings_stale: float | None = None
    savings_unassigned: float | None = None
    unassigned: int = 0  # seats paid for that nobody holds
    spend: float | None = None


class ProfileSavings(View):
    """Stale seats per profile (unassigned seats belong to no profile: their row is
    ``profile`` None, so the rows add up to the potential savings)."""

    profile: str | None
    currency: str
    stale: int
    unassigned: int = 0
    potential_savings: float


class Renewal(View):
    software_model: str
    seats: int
    renewal_date: date | None
    notice_date: date | None
    contract_ref: str | None


class TrendPoint(View):
    """One stored reconciliation: seats assigned, active and stale (every currency)."""

    as_of: datetime
    assigned: int
    active: int
    stale: int


class Dashboard(View):
    """The SaaS overview at ``at``: totals match ``reconcile`` summed over the models."""

    at: datetime
    subscriptions: int
    stale: int
    stale_percent: float
    totals: list[CurrencyTotals]
    models: list[ModelSeats]
    profiles: list[ProfileSavings]
    activity_buckets: dict[str, int]
    renewals: list[Renewal]
    open_candidates: int
    leavers_seats: int  # seats still held by people who left (identity provider)
    trend: list[TrendPoint]  # active vs stale over time, from stored reconciliations
