"""the accounts matching nobody, in id order (the people report pages and streams them); OAuth
authorizations waiting for their callback held in the database (serve --workers N)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shelfware.kit.db import UTCDateTime

revision: str = "0026_apiload"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNMATCHED = sa.text("person_id IS NULL")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oauth_attempt",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=200), nullable=False),
        sa.Column("verifier", sa.String(length=200), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("token_url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_attempt")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_attempt_state_hash")),
    )
    op.create_index("ix_oauth_attempt_created_at", "oauth_attempt", ["created_at"])
    op.create_index(
        "ix_subscription_unmatched",
        "subscription",
        ["id"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_unmatched", table_name="subscription")
    op.drop_index("ix_oauth_attempt_created_at", table_name="oauth_attempt")
    op.drop_table("oauth_attempt")
