"""indexes for keyset pages of the removal candidates queue

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_removal_candidate_queue",
        "removal_candidate",
        ["potential_savings", "inactive_days", "id"],
    )
    op.create_index(
        "ix_removal_candidate_state_queue",
        "removal_candidate",
        ["state", "potential_savings", "inactive_days", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_removal_candidate_state_queue", table_name="removal_candidate")
    op.drop_index("ix_removal_candidate_queue", table_name="removal_candidate")
