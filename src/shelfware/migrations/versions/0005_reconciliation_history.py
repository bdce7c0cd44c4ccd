"""reconciliation runs and positions kept over time; entitlement index by model

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0005"
down_revision: str | None = "0004"  # re-chained in branch web (merges)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(precision=20, scale=4)
POSITION = [
    "software_model_id",
    "active",
    "gone_at",
    "person_id",
    "last_activity_at",
    "created_in_app_at",
    "first_seen_at",
]


def upgrade() -> None:
    op.create_table(
        "reconciliation_run",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("as_of", shelfware.kit.db.UTCDateTime(), nullable=False),
        sa.Column("created_at", shelfware.kit.db.UTCDateTime(), nullable=False),
        sa.Column("models", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_run")),
    )
    op.create_index("ix_reconciliation_run_as_of", "reconciliation_run", ["as_of"])
    op.create_table(
        "reconciliation_position",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("software_model_id", ID, nullable=True),
        sa.Column("software_model", sa.String(length=610), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_cost", MONEY, nullable=True),
        sa.Column("rights_owned", sa.Integer(), nullable=False),
        sa.Column("rights_used", sa.Integer(), nullable=False),
        sa.Column("rights_used_people", sa.Integer(), nullable=False),
        sa.Column("rights_available", sa.Integer(), nullable=False),
        sa.Column("stale", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("true_up_cost", MONEY, nullable=True),
        sa.Column("over_licensed_amount", MONEY, nullable=True),
        sa.Column("potential_savings", MONEY, nullable=True),
        sa.Column("realised_savings", MONEY, nullable=True),
        sa.Column("spend", MONEY, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_run.id"],
            name=op.f("fk_reconciliation_position_run_id_reconciliation_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["software_model_id"],
            ["software_model.id"],
            name=op.f("fk_reconciliation_position_software_model_id_software_model"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_position")),
    )
    op.create_index("ix_reconciliation_position_run", "reconciliation_position", ["run_id"])
    op.create_index(
        "ix_reconciliation_position_model", "reconciliation_position", ["software_model_id"]
    )
    op.create_index("ix_entitlement_model", "entitlement", ["software_model_id"])
    # The covering index replaces its three-column prefix.
    op.create_index("ix_subscription_model_position", "subscription", POSITION)
    op.drop_index("ix_subscription_model_active", table_name="subscription")


def downgrade() -> None:
    op.create_index("ix_subscription_model_active", "subscription", POSITION[:3])
    op.drop_index("ix_subscription_model_position", table_name="subscription")
    op.drop_index("ix_entitlement_model", table_name="entitlement")
    op.drop_index("ix_reconciliation_position_model", table_name="reconciliation_position")
    op.drop_index("ix_reconciliation_position_run", table_name="reconciliation_position")
    op.drop_table("reconciliation_position")
    op.drop_index("ix_reconciliation_run_as_of", table_name="reconciliation_run")
    op.drop_table("reconciliation_run")
