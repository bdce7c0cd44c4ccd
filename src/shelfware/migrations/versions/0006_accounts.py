"""accounts: local users (argon2 hashes) and API tokens (SHA-256 digests); keyset-paging
indexes on subscriptions (user name, last activity) and prefix search (user name, email)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0006"
down_revision: str | None = "0005"  # re-chained in branch web (merges)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = ("username", "email")


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    instant = shelfware.kit.db.UTCDateTime
    op.create_table(
        "app_user",
        _id(),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", instant(), nullable=False),
        sa.Column("password_changed_at", instant(), nullable=False),
        sa.Column("last_login_at", instant(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "api_token",
        _id(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("created_at", instant(), nullable=False),
        sa.Column("last_used_at", instant(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", instant(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )

    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.create_index("ix_subscription_username_id", ["username", "id"], unique=False)
        batch_op.create_index(
            "ix_subscription_last_activity_at_id", ["last_activity_at", "id"], unique=False
        )
    # search by the start of a user name or email (see models/subscription.py)
    pattern = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    for column in SEARCHED:
        op.create_index(
            f"ix_subscription_lower_{column}",
            "subscription",
            [sa.text(f"lower({column}){pattern}")],
            unique=False,
        )


def downgrade() -> None:
    for column in SEARCHED:
        op.drop_index(f"ix_subscription_lower_{column}", table_name="subscription")
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_last_activity_at_id")
        batch_op.drop_index("ix_subscription_username_id")
    op.drop_table("api_token")
    op.drop_table("app_user")
