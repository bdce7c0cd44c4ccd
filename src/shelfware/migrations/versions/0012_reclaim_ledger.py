"""cap: the reclaim ledger (the rolling blast-radius window, counted in the database)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = shelfware.kit.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "reclaim_ledger",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("software_model_id", BigId, nullable=False),
        sa.Column("candidate_id", BigId, nullable=False),
        sa.Column("started_at", Instant(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["removal_candidate.id"],
            name=op.f("fk_reclaim_ledger_candidate_id_removal_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["software_model_id"],
            ["software_model.id"],
            name=op.f("fk_reclaim_ledger_software_model_id_software_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reclaim_ledger")),
    )
    with op.batch_alter_table("reclaim_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_reclaim_ledger_candidate_id", ["candidate_id"], unique=False)
        batch_op.create_index(
            "ix_reclaim_ledger_model_started", ["software_model_id", "started_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("reclaim_ledger")
