"""The reports: grouped queries over the store (and stored reconciliations for trends). Each
returns a ``Report`` of one row schema; the faces only choose the format."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from shelfware.kit.db import Database, UTCDateTime
from shelfware.kit.streaming import streamed
from shelfware.licensing import service as licensing
from shelfware.licensing.pricing import (
    CENT,
    entitlement_books,
    price_of,
)
from shelfware.licensing.renewals import right_size, utilisation_percent
from shelfware.licensing.savings import Granularity, savings_book
from shelfware.models import (
    Entitlement,
    IntegrationProfile,
    Person,
    ReconciliationPosition,
    ReconciliationRun,
    SoftwareModel,
    Subscription,
)
from shelfware.models.person import LEFT_STATUSES
from shelfware.reclamation import keeps
from shelfware.reports.schemas import (
    ChargebackBy,
    ChargebackRow,
    ComplianceRow,
    GroupKind,
    PeopleRow,
    Rates,
    RenewalRow,
    Report,
    SavingsRow,
    TrendRow,
    UsageRow,
)
from shelfware.reports.totals import currency_totals

S = Subscription.__table__.c
M = SoftwareModel.__table__.c
P = Person.__table__.c
E = Entitlement.__table__.c
PR = IntegrationProfile.__table__.c
POS = ReconciliationPosition.__table__.c
RUN = ReconciliationRun.__table__.c

USAGE_BUCKETS = (30, 60, 90)
RENEWAL_DAYS = 90


def _name(publisher: str, product: str, edition: str) -> str:
    return f"{publisher} {product} {edition}"


def person_left() -> ColumnElement[bool]:
    """SQL: the person left the organisation (deprovisioned, suspended or no longer listed in
    the identity provider); people imported from no identity provider never have."""
    return P.idp_status.in_(LEFT_STATUSES)


def compliance(
    session: Session, now: datetime, rates: Rates | None = None
) -> Report[ComplianceRow]:
    positions = licensing.reconcile(session, now)
    keys = set(ComplianceRow.model_fields) - {"row_type"}
    rows = [ComplianceRow(row_type="model", **p.model_dump(include=keys)) for p in positions]
    totals, notes = currency_totals(
        rows,
        counts=["rights_owned", "rights_used", "rights_used_people", "rights_available", "stale"],
        money=[
            "true_up_cost",
            "over_licensed_amount",
            "savings_stale",
            "savings_unassigned",
            "potential_savings",
            "realised_savings",
            "spend",
        ],
        rates=rates,
    )
    rows += [
        ComplianceRow(software_model="Total", unit_cost=None, status=None, **t) for t in totals
    ]
    notes.append("potential savings: stale seats (held, idle) plus unassigned seats (paid, unheld)")
    notes += [f"{p.software_model}: {p.note}" for p in positions if p.note]
    return Report[ComplianceRow](
        name="compliance", title="License compliance", as_of=now, rows=rows, notes=notes
    )


USAGE_KEYS = ("days_0_30", "days_30_60", "days_60_90", "days_90_plus", "never")


def usage(session: Session, now: datetime) -> Report[UsageRow]:
    """Seat-holding accounts per model by days since their last activity. One pass over each
    model's range of the covering index counts the seats active within 30, 60 and 90 days
    and the never-used ones; the buckets are their differences."""

    def since(days: int) -> Any:
        return func.count().filter(
            S.last_activity_at >= literal(now - timedelta(days=days), UTCDateTime())
        )

    query = (
        select(
            M.id,
            func.count(),
            *(since(days) for days in USAGE_BUCKETS),
            func.count().filter(S.last_activity_at.is_(None)),
        )
        .select_from(
            SoftwareModel.__table__.join(
                Subscription.__table__, and_(S.software_model_id == M.id, licensing.holds_seat())
            )
        )
        .group_by(M.id)
    )
    counts = {model_id: [int(n) for n in rest] for model_id, *rest in session.execute(query)}
    models = session.execute(
        select(M.id, M.publisher, M.product, M.edition).order_by(M.publisher, M.product, M.edition)
    )
    rows = []
    for model_id, publisher, product, edition in models:
        seats, d30, d60, d90, never = counts.get(model_id, [0, 0, 0, 0, 0])
        rows.append(
            UsageRow(
                row_type="model",
                software_model=_name(publisher, product, edition),
                seats=seats,
                days_0_30=d30,
                days_30_60=d60 - d30,
                days_60_90=d90 - d60,
                days_90_plus=seats - d90 - never,
                never=never,
            )
        )
    total = {key: sum(r[key] for r in rows) for key in ("seats", *USAGE_KEYS)}
    rows.append(UsageRow(row_type="total", software_model="Total", **total))
    return Report[UsageRow](
        name="usage", title="Last activity of seat holders", as_of=now, rows=rows
    )


def year_start(now: datetime) -> datetime:
    return datetime(now.astimezone(UTC).year, 1, 1, tzinfo=UTC)


def savings(
    session: Session,
    now: datetime,
    rates: Rates | None = None,
    period: Granularity = "year",
    since: date | None = None,
) -> Report[SavingsRow]:
    """Cost avoidance and realised savings per period (``period``: month, quarter, year),
    model and currency, from ``since`` (default: 1 January of ``now``'s year) to ``now``;
    a total per period and currency (converted at ``rates`` when given)."""
    book = savings_book(session, now, period)
    since = since or year_start(now).date()
    names = {
        model_id: _name(pub, prod, ed)
        for model_id, pub, prod, ed in session.execute(
            select(M.id, M.publisher, M.product, M.edition)
        )
    }
    rows: list[SavingsRow] = []
    notes: list[str] = []
    for p in book.periods:
        if p.end < since:
            continue
        span: dict[str, Any] = {"period": p.label, "period_start": p.start, "period_end": p.end}
        members = sorted(
            book.figures.get(p.label, {}).items(), key=lambda kv: (names[kv[0][0]], kv[0][1])
        )
        models = [
            SavingsRow(
                row_type="model",
                **span,
                software_model=names[model_id],
                currency=currency,
                seats_freed=f.seats_freed,
                freed_value=licensing.money(f.freed),
                cost_avoidance=licensing.money(f.avoided),
                commitment_reduction=licensing.money(f.reduction),
                realised_savings=licensing.money(f.realised),
            )
            for (model_id, currency), f in members
        ]
        if not models:
            continue
        totals, notes_here = currency_totals(
            models,
            counts=["seats_freed"],
            money=["freed_value", "cost_avoidance", "commitment_reduction", "realised_savings"],
            rates=rates,
        )
        rows += models
        rows += [SavingsRow(**span, software_model="Total", **t) for t in totals]
        notes = notes_here or notes
    notes = [
        *notes,
        "cost avoidance: seats freed (reclaimed) while the contract is unchanged; realised: "
        "the annual committed spend lowered (a contract ended, renewed or edited with fewer "
        "seats), attributed to seats freed in that period or before (oldest first), never "
        "more than their value",
    ]
    if not rows:
        notes.append("no seat freed in these periods yet")
    return Report[SavingsRow](
        name="savings",
        title=f"Savings per {period}: cost avoidance and realised",
        as_of=now,
        rows=rows,
        notes=notes,
    )


def renewals(
    session: Session, now: datetime, days: int = RENEWAL_DAYS, buffer_percent: float = 0.0
) -> Report[RenewalRow]:
    """Entitlements renewing (renewal date, else term end) in the next ``days`` days, with
    their model's utilisation and the seats to renew (``renewals.right_size``: the active
    seats plus ``buffer_percent``; the renewal alerts say the same)."""
    today = licensing.day_of(now)
    renews = func.coalesce(E.renewal_date, E.term_end)
    query = (
        select(Entitlement, renews)
        .where(renews >= today, renews <= today + timedelta(days=days))
        .order_by(renews, E.id)
    )
    positions = {p.software_model_id: p for p in licensing.reconcile(session, now)}
    rows = []
    for ent, renewal in session.execute(query):
        pos = positions[ent.software_model_id]
        size = right_size(ent.seats, ent.unit_cost, ent.billing_period, pos, buffer_percent)
        unit = size.annual_unit
        rows.append(
            RenewalRow(
                entitlement_id=ent.id,
                software_model=pos.software_model,
                contract_ref=ent.contract_ref,
                owner=ent.owner,
                renewal_date=renewal,
                notice_date=ent.notice_date,
                days_to_notice=(ent.notice_date - today).days if ent.notice_date else None,
                seats=ent.seats,
                currency=ent.currency,
                annual_cost=(licensing.money(unit * ent.seats) or 0.0)
                if unit is not None
                else None,
                model_owned=pos.rights_owned,
                model_used=pos.rights_used,
                model_stale=pos.stale,
                utilisation_percent=utilisation_percent(pos),
                recommended_seats=size.recommended,
                right_size_seats=size.renew_seats,
                renewal_saving=licensing.money(size.saving) if size.saving is not None else None,
            )
        )
    notes = [
        "renew seats: this entitlement's seats less what the model owns beyond the "
        f"recommended seats (its active accounts, used and not stale, plus {buffer_percent:g}%)"
    ]
    return Report[RenewalRow](
        name="renewals",
        title=f"Renewals in the next {days} days",
        as_of=now,
        rows=rows,
        notes=notes,
    )


def normalised(email: str) -> str:
    return email.strip().lower()


PEOPLE_TITLE = "Leavers holding seats, and accounts matching nobody"
PEOPLE_PAGE = 200  # rows of the people report on a page (the downloads stream every row)
# (person's email, profile, publisher, product, edition, account, account email, last
# activity, left, kept until, subscription id): what a people row is made of
_PEOPLE_COLUMNS = (
    P.email,
    PR.name,
    M.publisher,
    M.product,
    M.edition,
    S.username,
    S.email,
    S.last_activity_at,
    person_left(),
    S.kept_until,
    S.id,
)


def _people_base() -> Any:
    return (
        select(*_PEOPLE_COLUMNS)
        .select_from(
            Subscription.__table__.join(IntegrationProfile.__table__, PR.id == S.profile_id)
            .join(SoftwareModel.__table__, M.id == S.software_model_id)
            .outerjoin(Person.__table__, P.id == S.person_id)
        )
        .where(licensing.holds_seat())
    )


def people_row(
    now: datetime, found: Any, kind: Literal["seat", "leaver", "unmatched"]
) -> PeopleRow:
    """A people report row from a row of ``_PEOPLE_COLUMNS``."""
    person, profile, pub, prod, ed, username, account_email, last, _, kept_until, _ = found
    return PeopleRow(
        kind=kind,
        person=person,
        profile=profile,
        software_model=_name(pub, prod, ed),
        username=username,
        account_email=account_email,
        last_activity_at=last,
        idle_days=(now - last).days if last is not None else None,
        kept_until=keeps.kept_until_now(now, kept_until),
    )


@dataclass(frozen=True)
class PeopleCursor:
    """Where a page of leavers and unmatched accounts ends: its last row's segment (leavers
    first, then accounts matching nobody), person's email (leavers) and subscription id."""

    leaver: bool
    email: str
    id: int

    def text(self) -> str:
        return f"{'l' if self.leaver else 'u'}:{self.id}:{self.email}"

    @classmethod
    def parse(cls, text: str) -> PeopleCursor:
        segment, _, rest = text.partition(":")
        number, _, email = rest.partition(":")
        if segment not in ("l", "u") or not number.isdigit() or len(number) > 19:
            raise ValueError(f"not a cursor of the people report: {text[:40]!r}")
        return cls(leaver=segment == "l", email=email, id=int(number))


def people_queries(after: PeopleCursor | None = None) -> list[tuple[Any, bool]]:
    """The leavers holding seats (by their email, then the account), then the seat-holding
    accounts matching nobody (by id: a range of ``ix_subscription_unmatched``), from after
    ``after``: (statement, whether its rows are leavers). Both read in index order, so a page
    costs its rows and an export streams without a sort of every account."""
    leavers = _people_base().where(S.person_id.is_not(None), person_left()).order_by(P.email, S.id)
    unmatched = _people_base().where(S.person_id.is_(None)).order_by(S.id)
    if after is None:
        return [(leavers, True), (unmatched, False)]
    if after.leaver:
        leavers = leavers.where(
            or_(P.email > after.email, and_(P.email == after.email, S.id > after.id))
        )
        return [(leavers, True), (unmatched, False)]
    return [(unmatched.where(S.id > after.id), False)]


def people_page(
    session: Session, now: datetime, after: PeopleCursor | None = None, limit: int = PEOPLE_PAGE
) -> tuple[list[PeopleRow], PeopleCursor | None]:
    """A page of leavers holding seats and accounts matching nobody, and the cursor of the
    next page (None: the last page). Reads ``limit`` + 1 rows at most."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    found: list[tuple[Any, bool]] = []
    for statement, leaver in people_queries(after):
        want = limit + 1 - len(found)
        found += [(row, leaver) for row in session.execute(statement.limit(want))]
        if len(found) > limit:
            break
    more = len(found) > limit
    found = found[:limit]
    rows = [people_row(now, row, "leaver" if leaver else "unmatched") for row, leaver in found]
    if not more or not found:
        return rows, None
    last, leaver = found[-1]
    return rows, PeopleCursor(leaver=leaver, email=last[0] or "", id=int(last[-1]))


def people_stream(db: Database, now: datetime) -> Iterator[PeopleRow]:
    """Every leaver's seat, then every account matching nobody, streamed (``yield_per`` in one
    read session): memory holds a chunk, however many accounts."""
    for statement, leaver in people_queries():
        kind: Literal["leaver", "unmatched"] = "leaver" if leaver else "unmatched"
        for row in streamed(db, statement):
            yield people_row(now, row, kind)


def people(session: Session, now: datetime, email: str | None = None) -> Report[PeopleRow]:
    """One person's seats across apps (``email``), else leavers still holding seats and
    seat-holding accounts that match nobody (all of them: the faces page through
    ``people_page`` or stream ``people_stream`` instead)."""
    if email is None:
        rows = [
            people_row(now, row, "leaver" if leaver else "unmatched")
            for statement, leaver in people_queries()
            for row in session.execute(statement)
        ]
        return Report[PeopleRow](name="people", title=PEOPLE_TITLE, as_of=now, rows=rows)
    person_id = session.scalar(select(P.id).where(P.email == normalised(email)))
    if person_id is None:
        raise LookupError(f"no person with the email {email.strip()!r}")
    query = (
        _people_base()
        .where(S.person_id == person_id)
        .order_by(PR.name, M.publisher, M.product, M.edition, S.username, S.id)
    )
    rows = [people_row(now, row, "seat") for row in session.execute(query)]
    return Report[PeopleRow](
        name="people", title=f"Seats held by {normalised(email)}", as_of=now, rows=rows
    )


def trends(session: Session, now: datetime, rates: Rates | None = None) -> Report[TrendRow]:
    """Per stored reconciliation and currency: assigned, active and stale seats, spend."""
    query = (
        select(
            RUN.id,
            RUN.as_of,
            POS.currency,
            func.count(),
            func.sum(POS.rights_used),
            func.sum(POS.stale),
            func.sum(POS.spend),
            func.sum(POS.potential_savings),
        )
        .select_from(
            ReconciliationRun.__table__.join(ReconciliationPosition.__table__, POS.run_id == RUN.id)
        )
        .group_by(RUN.id, RUN.as_of, POS.currency)
        .order_by(RUN.as_of, RUN.id, POS.currency)
    )
    by_run: dict[int, list[TrendRow]] = {}
    for run_id, as_of, currency, models, assigned, stale, spend, potential in session.execute(
        query
    ):
        assigned, stale = int(assigned or 0), int(stale or 0)
        by_run.setdefault(run_id, []).append(
            TrendRow(
                row_type="total",
                as_of=as_of,
                run_id=run_id,
                currency=currency,
                models=int(models),
                assigned=assigned,
                active=assigned - stale,
                stale=stale,
                stale_percent=round(100 * stale / assigned, 1) if assigned else None,
                spend=licensing.money(None if spend is None else Decimal(str(spend))),
                potential_savings=licensing.money(
                    None if potential is None else Decimal(str(potential))
                ),
            )
        )
    rows: list[TrendRow] = []
    notes: list[str] = []
    for run_rows in by_run.values():
        rows += run_rows
        if rates is None:
            continue
        totals, notes = currency_totals(
            run_rows,
            counts=["models", "assigned", "active", "stale"],
            money=["spend", "potential_savings"],
            rates=rates,
        )
        for t in totals:
            if t["row_type"] == "converted_total":
                first = run_rows[0]
                stale_pct = round(100 * t["stale"] / t["assigned"], 1) if t["assigned"] else None
                rows.append(
                    TrendRow(as_of=first.as_of, run_id=first.run_id, stale_percent=stale_pct, **t)
                )
    if rates is None and len({r.currency for r in rows}) > 1:
        notes.append("spend is per currency; give --rate CODE=RATE (and --base) to add it up")
    if not rows:
        notes.append("no stored reconciliation yet: run `shelfware reconcile`")
    return Report[TrendRow](
        name="trends", title="Seats and spend over time", as_of=now, rows=rows, notes=notes
    )


# --------------------------------------------------------------------------- chargeback

UNKNOWN = "unknown"  # seats held by people with no department (or accounts matching nobody)
UNASSIGNED = "unassigned"  # seats paid for that nobody holds
# the person's override, else the identity provider's value, else the account's own (an
# app's word, e.g. SCIM's enterprise extension, for people no identity provider describes)
CHARGE_COLUMNS = {
    "department": (P.department_override, P.department, S.department),
    "cost_center": (P.cost_center_override, P.cost_center, S.cost_center),
}
_KIND_ORDER = {"named": 0, "unknown": 1, "unassigned": 2}


def _split_cents(total: int, weights: dict[tuple[GroupKind, str], int]) -> dict[Any, int]:
    """``total`` cents split in proportion to ``weights`` (largest remainder: the parts add up
    to ``total`` exactly; ties go to the first key in order)."""
    whole = sum(weights.values())
    if whole == 0:
        return dict.fromkeys(weights, 0)
    parts = {key: total * w // whole for key, w in weights.items()}
    left = total - sum(parts.values())
    by_remainder = sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))
    for key in by_remainder[:left]:
        parts[key] += 1
    return parts


def chargeback(
    session: Session, now: datetime, by: ChargebackBy = "department"
) -> Report[ChargebackRow]:
    """The annual spend of each model (reconciliation's spend on the day: its entitlements
    in term, in its price's currency) charged to the groups (departments or cost centres)
    of the people holding its seats, per model and currency.

    Every seat paid for costs the same (spend / paid seats); a model with more holders than
    paid seats spreads its spend over the holders. Seats paid for and held by nobody are
    the "unassigned" row; seats held by people with no department (the override, else the
    identity provider's, else the account's own from its app) the "unknown" row. Amounts are
    split in whole cents (largest remainder), so the rows add up to the spend exactly.

    Grouped queries only: the seats per model and group, the few seats charged by their app,
    the entitlements."""
    override, from_idp, from_app = CHARGE_COLUMNS[by]
    person_group = func.coalesce(override, from_idp)
    seats = Subscription.__table__.outerjoin(Person.__table__, P.id == S.person_id)
    # every seat by its person's group (the covering index, no table reads) ...
    by_person = (
        select(S.software_model_id, person_group, func.count())
        .select_from(seats)
        .where(licensing.holds_seat())
        .group_by(S.software_model_id, person_group)
    )
    # ... then the few seats without one whose app names one (a partial index finds them)
    by_app = (
        select(S.software_model_id, from_app, func.count())
        .select_from(seats)
        .where(from_app.is_not(None), licensing.holds_seat(), person_group.is_(None))
        .group_by(S.software_model_id, from_app)
    )
    held: dict[int, dict[tuple[GroupKind, str], int]] = {}
    unknown: tuple[GroupKind, str] = ("unknown", UNKNOWN)
    for model_id, name, n in session.execute(by_person).all():  # fetchall: 100,000s of rows
        key: tuple[GroupKind, str] = ("named", name) if name is not None else unknown
        by_group = held.setdefault(model_id, {})
        by_group[key] = by_group.get(key, 0) + int(n)
    for model_id, name, n in session.execute(by_app).all():
        by_group = held[model_id]
        by_group[unknown] -= int(n)
        if not by_group[unknown]:
            del by_group[unknown]
        by_group[("named", name)] = by_group.get(("named", name), 0) + int(n)
    books = entitlement_books(session, licensing.day_of(now))
    models = session.execute(
        select(M.id, M.publisher, M.product, M.edition, M.list_price, M.currency)
    ).all()
    # Plain tuples until the rows are in order (100,000s at a cost centre per model): kind
    # order, group, model, kind, currency, seats, seat cost, whole cents (None: no price)
    Plain = tuple[int, str, str, GroupKind, str, int, float | None, int | None]
    plain: list[Plain] = []
    unpriced: list[str] = []
    for m in models:
        book = books.get(m.id)
        price = price_of((m.list_price, m.currency), book)
        in_currency = book.by_currency.get(price.currency) if book else None
        spend = in_currency.active_spend if in_currency else Decimal(0)
        paid = in_currency.active_priced_seats if in_currency else 0
        groups = held.get(m.id, {})
        holding = sum(groups.values())
        owned = book.owned if book else 0
        if not holding and not spend:
            continue
        model = _name(m.publisher, m.product, m.edition)
        seats_of = dict(groups)
        weights = dict(groups)
        divisor = max(paid, holding)
        if paid > holding:
            weights[("unassigned", UNASSIGNED)] = paid - holding
        if owned > holding:
            seats_of[("unassigned", UNASSIGNED)] = owned - holding
        cents_total = int((spend / CENT).to_integral_value())
        cents = _split_cents(cents_total, weights) if divisor else {}
        if holding and price.annual is None:
            unpriced.append(model)
        seat_cost = licensing.money(spend / divisor) if divisor else None
        priced = price.annual is not None
        for key, count in seats_of.items():
            kind, name = key
            amount = cents.get(key, 0) if priced else None
            plain.append(
                (_KIND_ORDER[kind], name, model, kind, price.currency, count, seat_cost, amount)
            )
    plain.sort(key=lambda r: r[:3])
    # a block per (group, currency), in the order of their first row, then its subtotal;
    # totals per currency; amounts added in whole cents, so they add up exactly
    blocks: dict[tuple[GroupKind, str, str], list[Plain]] = {}
    for r in plain:
        blocks.setdefault((r[3], r[1], r[4]), []).append(r)
    totals: dict[str, list[Any]] = {}
    out: list[ChargebackRow] = []
    for (kind, name, currency), members in blocks.items():
        seats_sum, cents_sum, priced_any = 0, 0, False
        for _, _, model, _, _, count, seat_cost, amount in members:
            out.append(
                ChargebackRow(
                    row_type="model",
                    group=name,
                    group_kind=kind,
                    software_model=model,
                    currency=currency,
                    seats=count,
                    seat_cost=seat_cost,
                    # whole cents: the float nearest amount/100, as float(Decimal * CENT)
                    annual_cost=None if amount is None else amount / 100,
                )
            )
            seats_sum += count
            if amount is not None:
                cents_sum += amount
                priced_any = True
        out.append(
            ChargebackRow(
                row_type="group",
                group=name,
                group_kind=kind,
                software_model="All models",
                currency=currency,
                seats=seats_sum,
                seat_cost=None,
                annual_cost=cents_sum / 100 if priced_any else None,
            )
        )
        total = totals.setdefault(currency, [0, 0, False])
        total[0] += seats_sum
        total[1] += cents_sum
        total[2] = total[2] or priced_any
    for currency, (seats_sum, cents_sum, priced_any) in sorted(totals.items()):
        out.append(
            ChargebackRow(
                row_type="total",
                group="Total",
                group_kind=None,
                software_model="All models",
                currency=currency,
                seats=seats_sum,
                seat_cost=None,
                annual_cost=cents_sum / 100 if priced_any else None,
            )
        )
    label = "department" if by == "department" else "cost centre"
    notes = [
        f"each model's spend on {licensing.day_of(now)} (entitlements in term) charged to the "
        f"{label} of the people holding its seats; {UNKNOWN}: holders with no {label} or "
        f"matching no person; {UNASSIGNED}: seats owned that nobody holds",
        "a model with more holders than paid seats spreads its spend over the holders",
    ]
    if unpriced:
        notes.append(f"no price (cost unknown): {', '.join(sorted(unpriced))}")
    return Report[ChargebackRow](
        name="chargeback",
        title=f"Chargeback by {label}",
        as_of=now,
        rows=out,
        notes=notes,
    )
