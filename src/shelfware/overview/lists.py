"""Choices the workspace's filters offer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfware.models import SoftwareModel


def model_choices(session: Session) -> list[tuple[int, str]]:
    """(id, display name) of every software model, for a filter's choices."""
    models = session.scalars(
        select(SoftwareModel).order_by(
            SoftwareModel.publisher, SoftwareModel.product, SoftwareModel.edition
        )
    )
    return [(m.id, m.display_name) for m in models]
