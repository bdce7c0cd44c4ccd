"""Entitlements: add, edit, end, list, and import from CSV (every row or nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.audit import service as audit
from shelfware.connectors.base import EntitlementRecord
from shelfware.kit.clock import Clock
from shelfware.kit.csv_input import CsvInputError, read_csv
from shelfware.licensing.pricing import active_on, annualise
from shelfware.licensing.schemas import (
    EntitlementCreate,
    EntitlementUpdate,
    EntitlementView,
    check_term,
)
from shelfware.models import CommitmentChange, Entitlement, SoftwareModel


class LicensingError(Exception):
    pass


class LicensingNotFound(LicensingError, LookupError):
    """No such entitlement or software model."""


class LicensingInvalid(LicensingError):
    """The request itself is not acceptable (e.g. an edit that changes nothing)."""


class ModelIndex:
    """Software models by id, 'Publisher/Product/Edition' or display name (any case)."""

    def __init__(self, session: Session) -> None:
        self.models = list(session.scalars(select(SoftwareModel).order_by(SoftwareModel.id)))
        self.names: dict[str, SoftwareModel] = {}
        for model in self.models:
            for name in (
                str(model.id),
                model.display_name,
                f"{model.publisher}/{model.product}/{model.edition}",
                f"{model.publisher} / {model.product} / {model.edition}",
            ):
                self.names.setdefault(name.lower(), model)

    def find(self, text: str) -> SoftwareModel:
        model = self.names.get(text.strip().lower())
        if model is not None:
            return model
        known = "; ".join(f"{m.id}: {m.display_name}" for m in self.models[:20]) or (
            "none yet: publish a profile first"
        )
        raise LicensingNotFound(f"no software model {text!r} (models: {known})")


def find_model(session: Session, text: str) -> SoftwareModel:
    return ModelIndex(session).find(text)


def _view(ent: Entitlement, model: SoftwareModel, day: date | None = None) -> EntitlementView:
    active = day is None or (
        (ent.term_start is None or ent.term_start <= day)
        and (ent.term_end is None or ent.term_end >= day)
    )
    return EntitlementView(
        id=ent.id,
        software_model=model.display_name,
        seats=ent.seats,
        unit_cost=ent.unit_cost,
        currency=ent.currency,
        billing_period=ent.billing_period,
        term_start=ent.term_start,
        term_end=ent.term_end,
        renewal_date=ent.renewal_date,
        notice_date=ent.notice_date,
        contract_ref=ent.contract_ref,
        active=active,
        vendor_managed=ent.profile_id is not None,
        owner=ent.owner,
    )


def _fields(data: EntitlementCreate) -> dict[str, Any]:
    return data.model_dump(exclude={"model"})


def add_entitlement(
    session: Session, clock: Clock, data: EntitlementCreate, models: ModelIndex | None = None
) -> EntitlementView:
    model = (models or ModelIndex(session)).find(data.model)
    entitlement = Entitlement(software_model_id=model.id, created_at=clock.now(), **_fields(data))
    session.add(entitlement)
    session.flush()
    audit.record(
        session,
        clock,
        action="entitlement.add",
        object_type="entitlement",
        object_id=entitlement.id,
        model=model.display_name,
        seats=data.seats,
        unit_cost=str(data.unit_cost),
        currency=data.currency,
        billing_period=data.billing_period,
        owner=data.owner,
    )
    return _view(entitlement, model)


def _get(session: Session, entitlement_id: int) -> tuple[Entitlement, SoftwareModel]:
    ent = session.get(Entitlement, entitlement_id)
    if ent is None:
        raise LicensingNotFound(
            f"no entitlement {entitlement_id} (the entitlements list shows their ids)"
        )
    model = session.get(SoftwareModel, ent.software_model_id)
    assert model is not None
    return ent, model


# What the vendor decides on a vendor-managed entitlement (its sync overwrites them): an edit is
# refused rather than silently undone at the next sync.
VENDOR_FIELDS = frozenset({"seats", "term_start", "term_end"})


def _committed(ent: Entitlement) -> tuple[str, Decimal] | None:
    """The entitlement's annual committed spend (None without a price)."""
    if ent.unit_cost is None:
        return None
    return ent.currency, annualise(Decimal(ent.unit_cost), ent.billing_period) * ent.seats


def record_commitment_change(
    session: Session,
    clock: Clock,
    ent: Entitlement,
    before: tuple[str, Decimal] | None,
) -> None:
    """Keep what an in-place change did to the annual committed spend of an entitlement in
    term today (its row forgets the old seats and price; terms are read from the rows)."""
    today = clock.now().date()
    if not (
        (ent.term_start is None or ent.term_start <= today)
        and (ent.term_end is None or ent.term_end >= today)
    ):
        return
    after = _committed(ent)
    deltas: dict[str, Decimal] = {}
    if before is not None:
        deltas[before[0]] = -before[1]
    if after is not None:
        deltas[after[0]] = deltas.get(after[0], Decimal(0)) + after[1]
    for currency, delta in sorted(deltas.items()):
        if delta:
            session.add(
                CommitmentChange(
                    entitlement_id=ent.id,
                    software_model_id=ent.software_model_id,
                    currency=currency,
                    effective_on=today,
                    annual_delta=delta,
                    created_at=clock.now(),
                )
            )


def get_entitlement(session: Session, entitlement_id: int, day: date) -> EntitlementView:
    """One entitlement, as lists show it on ``day``."""
    ent, model = _get(session, entitlement_id)
    return _view(ent, model, day)


def edit_entitlement(session: Session, clock: Clock, data: EntitlementUpdate) -> EntitlementView:
    """Change the fields given; a field given with the value it already has is no change (a
    form sends every field)."""
    ent, model = _get(session, data.id)
    changes = {k: v for k, v in data.changes().items() if getattr(ent, k) != v}
    if not changes:
        raise LicensingInvalid("nothing to change: give at least one field")
    vendor = sorted(VENDOR_FIELDS & set(changes)) if ent.profile_id is not None else []
    if vendor:
        raise LicensingInvalid(
            f"entitlement {ent.id} is read from the vendor at each sync: its "
            f"{', '.join(vendor)} follow the vendor (the unit cost, currency, billing period, "
            "renewal and contract can be edited)"
        )
    check_term(changes.get("term_start", ent.term_start), changes.get("term_end", ent.term_end))
    before = {k: getattr(ent, k) for k in changes}
    committed = _committed(ent)
    for key, value in changes.items():
        setattr(ent, key, value)
    record_commitment_change(session, clock, ent, committed)
    session.flush()
    audit.record(
        session,
        clock,
        action="entitlement.edit",
        object_type="entitlement",
        object_id=ent.id,
        changes={k: [str(before[k]), str(v)] for k, v in changes.items()},
    )
    return _view(ent, model)


def end_entitlement(
    session: Session, clock: Clock, entitlement_id: int, on: date
) -> EntitlementView:
    """End the term on ``on`` (the last day it counts)."""
    ent, model = _get(session, entitlement_id)
    if ent.profile_id is not None:
        raise LicensingInvalid(
            f"entitlement {ent.id} is read from the vendor at each sync: it ends when the "
            "vendor no longer lists it"
        )
    if ent.term_start is not None and on < ent.term_start:
        raise LicensingError(
            f"entitlement {ent.id} starts on {ent.term_start}: it cannot end on {on}"
        )
    previous = ent.term_end
    ent.term_end = on
    session.flush()
    audit.record(
        session,
        clock,
        action="entitlement.end",
        object_type="entitlement",
        object_id=ent.id,
        term_end=[str(previous), str(on)],
    )
    return _view(ent, model, on)


def list_entitlements(
    session: Session, day: date, model: str | None = None, active_only: bool = False
) -> list[EntitlementView]:
    query = (
        select(Entitlement, SoftwareModel)
        .join(SoftwareModel, SoftwareModel.id == Entitlement.software_model_id)
        .order_by(SoftwareModel.publisher, SoftwareModel.product, Entitlement.id)
    )
    if model is not None:
        query = query.where(Entitlement.software_model_id == find_model(session, model).id)
    if active_only:
        query = query.where(active_on(day))
    return [_view(ent, mod, day) for ent, mod in session.execute(query)]


CSV_COLUMNS: dict[str, Sequence[str]] = {
    "model": ["software model", "software_model", "product"],
    "seats": ["quantity", "qty"],
    "unit_cost": ["unit cost", "cost", "price", "unit price"],
    "currency": [],
    "billing_period": ["billing period", "period", "billing"],
    "term_start": ["term start", "start", "start date"],
    "term_end": ["term end", "end", "end date"],
    "renewal_date": ["renewal date", "renewal"],
    "notice_date": ["notice date", "notice"],
    "contract_ref": ["contract", "contract ref", "contract reference", "reference"],
    "owner": ["owner email", "contract owner"],
}
# read_csv keys rows by canonical names (lower case, '_' as space)
_CANONICAL = {name: name.replace("_", " ") for name in CSV_COLUMNS}


def parse_entitlements_csv(
    data: bytes, models: ModelIndex, what: str = "the file"
) -> list[EntitlementCreate]:
    """Every row as an entitlement, or a CsvInputError naming the line and column."""
    rows = read_csv(
        data,
        columns={_CANONICAL[n]: aliases for n, aliases in CSV_COLUMNS.items()},
        required=[_CANONICAL[n] for n in ("model", "seats", "unit_cost")],
        what=what,
    )
    if not rows:
        raise CsvInputError(f"{what} has a header but no entitlement rows")
    parsed = []
    for row in rows:
        values = {
            name: row.values[canonical]
            for name, canonical in _CANONICAL.items()
            if row.values.get(canonical)
        }
        try:
            item = EntitlementCreate.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else ""
            where = f", column {_CANONICAL.get(field, field)!r}" if field else ""
            message = error["msg"].removeprefix("Value error, ")
            raise CsvInputError(f"{what}, line {row.line}{where}: {message}") from None
        try:
            models.find(item.model)
        except LicensingError:
            raise CsvInputError(
                f"{what}, line {row.line}, column 'model': no software model {item.model!r}"
            ) from None
        parsed.append(item)
    return parsed


def import_entitlements(
    session: Session, clock: Clock, data: bytes, what: str = "the file"
) -> list[EntitlementView]:
    """Add every row of an entitlement CSV; one bad row refuses the whole file."""
    models = ModelIndex(session)
    items = parse_entitlements_csv(data, models, what)
    return [add_entitlement(session, clock, item, models) for item in items]


def keep_vendor_entitlements(
    session: Session,
    clock: Clock,
    profile_id: int,
    owned: Sequence[tuple[int, EntitlementRecord]],
) -> int:
    """Keep a profile's vendor-managed entitlements in step with what the vendor says was
    bought (`owned`: software model id and the vendor's record, after a complete download).

    One entitlement per vendor id: its seats follow the vendor; its unit cost, currency and
    billing period follow the record where the profile prices it (option), else stay as an
    admin edited them (none assumed: a new one without a price has no unit cost). One the
    vendor no longer lists ends (yesterday was its last day). Returns how many were added,
    changed or ended."""
    now = clock.now()
    today = now.date()
    existing = {
        ent.vendor_ref: ent
        for ent in session.scalars(select(Entitlement).where(Entitlement.profile_id == profile_id))
    }
    changed = 0
    for model_id, record in owned:
        ent = existing.pop(record.external_id, None)
        values: dict[str, Any] = {"seats": record.seats, "software_model_id": model_id}
        if record.unit_cost is not None:
            values.update(
                unit_cost=record.unit_cost,
                currency=record.currency,
                billing_period=record.billing_period,
            )
        if ent is None:
            fields = {
                "unit_cost": None,
                "currency": record.currency,
                "billing_period": record.billing_period,
                **values,
            }
            ent = Entitlement(
                profile_id=profile_id,
                vendor_ref=record.external_id,
                created_at=now,
                contract_ref=f"vendor: {record.edition or record.external_id}",
                **fields,
            )
            session.add(ent)
            session.flush()
            action = "entitlement.vendor_add"
            diff: dict[str, Any] = {k: str(v) for k, v in values.items()}
        else:
            if ent.term_end is not None:
                values["term_end"] = None  # listed again
            diff = {
                k: [str(getattr(ent, k)), str(v)] for k, v in values.items() if getattr(ent, k) != v
            }
            if not diff:
                continue
            committed = _committed(ent)
            for key, value in values.items():
                setattr(ent, key, value)
            record_commitment_change(session, clock, ent, committed)
            action = "entitlement.vendor_update"
        changed += 1
        audit.record(
            session,
            clock,
            action=action,
            object_type="entitlement",
            object_id=ent.id,
            vendor_ref=record.external_id,
            changes=diff,
        )
    for ent in existing.values():
        if ent.term_end is None or ent.term_end >= today:
            ent.term_end = today - timedelta(days=1)
            changed += 1
            audit.record(
                session,
                clock,
                action="entitlement.vendor_end",
                object_type="entitlement",
                object_id=ent.id,
                vendor_ref=ent.vendor_ref,
            )
    session.flush()
    return changed
