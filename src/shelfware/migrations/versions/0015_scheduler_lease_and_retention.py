"""jobs scale out: the scheduler lease, once-per-period scheduled jobs, pruning by age

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = shelfware.kit.db.UTCDateTime
ONCE = "period IS NOT NULL AND state <> 'failed'"


def upgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lease")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "uq_job_once_per_period",
            ["key", "period"],
            unique=True,
            sqlite_where=sa.text(ONCE),
            postgresql_where=sa.text(ONCE),
        )
        batch_op.create_index("ix_job_finished_at", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_finished_at")
        batch_op.drop_index("uq_job_once_per_period")
        batch_op.drop_column("period")
    op.drop_table("scheduler_lease")
