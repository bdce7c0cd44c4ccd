"""vendor names the connector does not know: marked on the account, counted per run

Revision ID: 0010_vendor
Revises: 0009
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_vendor"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("subscription", "staged_account"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("unrecognised", sa.String(length=500), nullable=True))
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unrecognised", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("unrecognised")
    for table in ("staged_account", "subscription"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("unrecognised")
