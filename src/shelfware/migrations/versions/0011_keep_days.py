"""kept seats: reclamation_rule.keep_days and subscription.kept_until

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = shelfware.kit.db.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keep_days", sa.Integer(), nullable=False, server_default=sa.text("90"))
        )
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        batch_op.alter_column("keep_days", server_default=None)
    # a nullable column: a plain ALTER TABLE on both stores (no copy of a big table)
    op.add_column("subscription", sa.Column("kept_until", Instant(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (a batch copy would trip over the expression
    # indexes of 0007)
    op.drop_column("subscription", "kept_until")
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        batch_op.drop_column("keep_days")
