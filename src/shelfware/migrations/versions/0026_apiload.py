"""the accounts matching nobody, in id order (the people report pages and streams them)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_apiload"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNMATCHED = sa.text("person_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_subscription_unmatched",
        "subscription",
        ["id"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_unmatched", table_name="subscription")
