"""downgrade rules: reclamation_rule.kind (+ target and thresholds), candidate actions,
activity per account and day

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = shelfware.kit.db.UTCDateTime
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # one rule per model and kind (was: per model); a small table, copied on SQLite
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="remove")
        )
        batch_op.add_column(sa.Column("target_model_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("max_active_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_events", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("window_days", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_reclamation_rule_software_model_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reclamation_rule_software_model_id", ["software_model_id", "kind"]
        )
        batch_op.create_foreign_key(
            "fk_reclamation_rule_target_model_id_software_model",
            "software_model",
            ["target_model_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # removal_candidate is big: a column with a constant default and a nullable one are plain
    # ADD COLUMNs on both stores (no copy)
    op.add_column(
        "removal_candidate",
        sa.Column("action", sa.String(length=10), nullable=False, server_default="remove"),
    )
    op.add_column("removal_candidate", sa.Column("target_model_id", BigId, nullable=True))
    op.add_column("removal_candidate", sa.Column("active_days", sa.Integer(), nullable=True))
    op.add_column("integration_profile", sa.Column("activity_days_from", Instant(), nullable=True))
    op.create_table(
        "activity_day",
        sa.Column("subscription_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_activity_day_subscription_id_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "day", name=op.f("pk_activity_day")),
    )


def downgrade() -> None:
    op.drop_table("activity_day")
    op.drop_column("integration_profile", "activity_days_from")
    op.drop_column("removal_candidate", "active_days")
    op.drop_column("removal_candidate", "target_model_id")
    op.drop_column("removal_candidate", "action")
    op.execute("DELETE FROM reclamation_rule WHERE kind <> 'remove'")
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_reclamation_rule_target_model_id_software_model", type_="foreignkey"
        )
        batch_op.drop_constraint("uq_reclamation_rule_software_model_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reclamation_rule_software_model_id", ["software_model_id"]
        )
        batch_op.drop_column("window_days")
        batch_op.drop_column("max_events")
        batch_op.drop_column("max_active_days")
        batch_op.drop_column("target_model_id")
        batch_op.drop_column("kind")
