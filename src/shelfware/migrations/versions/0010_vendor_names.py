"""vendor names the connector does not know: marked on the account, counted per run

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 08:30:00

Plain ADD / DROP COLUMN (SQLite 3.35+ has both): a batch copy of `subscription` would lose its
expression indexes (migration 0007), which SQLite cannot reflect.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("subscription", sa.String(length=500)),
    ("staged_account", sa.String(length=500)),
    ("sync_run", sa.Integer()),
)


def upgrade() -> None:
    for table, kind in COLUMNS:
        op.add_column(table, sa.Column("unrecognised", kind, nullable=True))


def downgrade() -> None:
    for table, _ in reversed(COLUMNS):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN unrecognised")
        else:
            op.drop_column(table, "unrecognised")
