"""rule evaluation looks only where an outcome can change: accounts and candidates written since
the profile's last evaluation (``rules_dirty``), the profile's evaluation watermark, and the
indexes that find those rows, the seats of people who left and the keeps

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shelfware.kit.db import UTCDateTime

revision: str = "0027_rulesdelta"
down_revision: str | None = "0026_apiload"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIRTY_SQLITE = sa.text("rules_dirty = 1")
DIRTY_PG = sa.text("rules_dirty")
KEPT = sa.text("kept_until IS NOT NULL")
LEFT = sa.text("justification = 'left the organisation'")


def upgrade() -> None:
    op.add_column("integration_profile", sa.Column("rules_evaluated_at", UTCDateTime()))
    op.add_column("integration_profile", sa.Column("rules_full_at", UTCDateTime()))
    op.add_column("integration_profile", sa.Column("rules_fingerprint", sa.String(length=64)))
    for table in ("subscription", "removal_candidate"):
        # every row written before counts as written since the last evaluation (there is
        # none yet: the first evaluation is a full one and clears them)
        op.add_column(
            table,
            sa.Column("rules_dirty", sa.Boolean(), server_default=sa.true(), nullable=False),
        )
        op.create_index(
            f"ix_{table}_rules_dirty",
            table,
            ["profile_id"],
            sqlite_where=DIRTY_SQLITE,
            postgresql_where=DIRTY_PG,
        )
    op.create_index(
        "ix_subscription_kept_until",
        "subscription",
        ["profile_id", "kept_until"],
        sqlite_where=KEPT,
        postgresql_where=KEPT,
    )
    op.create_index(
        "ix_removal_candidate_left",
        "removal_candidate",
        ["profile_id", "subscription_id"],
        sqlite_where=LEFT,
        postgresql_where=LEFT,
    )


def downgrade() -> None:
    op.drop_index("ix_removal_candidate_left", table_name="removal_candidate")
    op.drop_index("ix_subscription_kept_until", table_name="subscription")
    for table in ("subscription", "removal_candidate"):
        op.drop_index(f"ix_{table}_rules_dirty", table_name=table)
        op.drop_column(table, "rules_dirty")
    for column in ("rules_fingerprint", "rules_full_at", "rules_evaluated_at"):
        op.drop_column("integration_profile", column)
