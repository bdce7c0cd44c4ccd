"""departments and cost centres of people (from the identity provider, and overrides)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_departments"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("department", 200),
    ("cost_center", 100),
    ("department_override", 200),
    ("cost_center_override", 100),
)


def upgrade() -> None:
    # nullable columns without defaults: a plain ADD COLUMN on both stores (no table copy)
    for name, length in COLUMNS:
        op.add_column("person", sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
