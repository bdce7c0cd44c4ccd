"""a fingerprint of each account as its last sync staged it (an unchanged re-sync stages nothing)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("staged_account", "subscription")


def upgrade() -> None:
    # nullable, no default: a plain ADD COLUMN on both stores (no table copy); an account
    # without a fingerprint is staged by its next sync, which writes one
    for table in TABLES:
        op.add_column(table, sa.Column("fingerprint", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "fingerprint")
