"""sync run: seconds spent in each stage; staging unlogged on PostgreSQL

Staged rows live for one run and are worthless after a crash (the run is then abandoned and
reaped), so PostgreSQL need not write them to its WAL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = ("download", "activity", "staging", "switch_over", "evaluation")


def upgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        for stage in STAGES:
            batch_op.add_column(sa.Column(f"{stage}_seconds", sa.Double(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE staged_account SET UNLOGGED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE staged_account SET LOGGED")
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        for stage in reversed(STAGES):
            batch_op.drop_column(f"{stage}_seconds")
