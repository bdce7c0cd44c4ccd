"""departments and cost centres of people (from the identity provider, and overrides)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("department", 200),
    ("cost_center", 100),
    ("department_override", 200),
    ("cost_center_override", 100),
)


# an account's own department and cost centre (SCIM enterprise extension), staged and kept
ACCOUNT_COLUMNS = (("department", 200), ("cost_center", 100))
TABLES = (
    ("person", COLUMNS),
    ("staged_account", ACCOUNT_COLUMNS),
    ("subscription", ACCOUNT_COLUMNS),
)


def upgrade() -> None:
    # nullable columns without defaults: a plain ADD COLUMN on both stores (no table copy)
    for table, columns in TABLES:
        for name, length in columns:
            op.add_column(table, sa.Column(name, sa.String(length=length), nullable=True))
    for name, _ in ACCOUNT_COLUMNS:
        op.create_index(
            f"ix_subscription_{name}",
            "subscription",
            ["software_model_id", name, "person_id", "active", "gone_at"],
            sqlite_where=sa.text(f"{name} IS NOT NULL"),
            postgresql_where=sa.text(f"{name} IS NOT NULL"),
        )


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place; the subscription table's expression indexes
    # make a batch copy of it fragile, so plain DROP COLUMN is used on both stores
    for name, _ in ACCOUNT_COLUMNS:
        op.drop_index(f"ix_subscription_{name}", table_name="subscription")
    for table, columns in reversed(TABLES):
        for name, _ in reversed(columns):
            op.drop_column(table, name)
