"""sessions: web sessions in the database (hashed tokens), API token owners and expiry, an
index for counting recent audit events by action (sign-in limits, the audit page)

Existing API tokens get no owner (NULL: created by the local operator) and expire 90 days
after this migration runs.

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = shelfware.kit.db.UTCDateTime
EXISTING_TOKEN_DAYS = 90


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("expires_at", Instant(), nullable=False),
        sa.Column("last_seen_at", Instant(), nullable=False),
        sa.Column("ended_at", Instant(), nullable=True),
        sa.Column("address", sa.String(length=100), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_web_session_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"], unique=False)
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)

    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("expires_at", Instant(), nullable=True))
    expiry = datetime.now(UTC) + timedelta(days=EXISTING_TOKEN_DAYS)
    token = sa.table("api_token", sa.column("expires_at", Instant()))
    op.execute(token.update().values(expires_at=expiry))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=Instant(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_token_owner_id_app_user"),
            "app_user",
            ["owner_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_api_token_owner_id"), ["owner_id"], unique=False)

    op.create_index("ix_audit_event_action_at", "audit_event", ["action", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_event_action_at", table_name="audit_event")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_owner_id"))
        batch_op.drop_constraint(batch_op.f("fk_api_token_owner_id_app_user"), type_="foreignkey")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("owner_id")
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_table("web_session")
