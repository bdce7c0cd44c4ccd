"""renewals: entitlement owners, renewal alerts, calendar feeds, commitment changes

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 10:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = shelfware.kit.db.UTCDateTime


def upgrade() -> None:
    # a nullable column without a default: a plain ADD COLUMN on both stores
    op.add_column("entitlement", sa.Column("owner", sa.String(length=254), nullable=True))
    op.create_table(
        "renewal_alert",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entitlement_id", BigId, nullable=False),
        sa.Column("notice_date", sa.Date(), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=254), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", Instant(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", Instant(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["entitlement.id"],
            name=op.f("fk_renewal_alert_entitlement_id_entitlement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_alert")),
        sa.UniqueConstraint(
            "entitlement_id", "notice_date", "threshold_days", name="uq_renewal_alert_threshold"
        ),
    )
    op.create_table(
        "commitment_change",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entitlement_id", BigId, nullable=True),
        sa.Column("software_model_id", BigId, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("annual_delta", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["entitlement.id"],
            name=op.f("fk_commitment_change_entitlement_id_entitlement"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["software_model_id"],
            ["software_model.id"],
            name=op.f("fk_commitment_change_software_model_id_software_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_change")),
    )
    op.create_index(
        "ix_commitment_change_model_day",
        "commitment_change",
        ["software_model_id", "effective_on"],
        unique=False,
    )
    op.create_table(
        "calendar_feed",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", Instant(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("calendar_feed")
    op.drop_index("ix_commitment_change_model_day", table_name="commitment_change")
    op.drop_table("commitment_change")
    op.drop_table("renewal_alert")
    op.drop_column("entitlement", "owner")
