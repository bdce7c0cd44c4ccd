"""single sign-on (OIDC): users' SSO subject, password optional, SSO attempts, ID token hints

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 09:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = shelfware.kit.db.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("sso_subject", sa.String(length=600), nullable=True))
        batch.alter_column("password_hash", existing_type=sa.String(length=200), nullable=True)
        batch.create_unique_constraint(op.f("uq_app_user_sso_subject"), ["sso_subject"])
    with op.batch_alter_table("web_session") as batch:
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))
    op.create_table(
        "sso_attempt",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("verifier", sa.String(length=200), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_attempt")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_sso_attempt_state_hash")),
    )
    op.create_index("ix_sso_attempt_created_at", "sso_attempt", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sso_attempt_created_at", table_name="sso_attempt")
    op.drop_table("sso_attempt")
    with op.batch_alter_table("web_session") as batch:
        batch.drop_column("id_token")
    op.execute("DELETE FROM app_user WHERE password_hash IS NULL")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_constraint(op.f("uq_app_user_sso_subject"), type_="unique")
        batch.drop_column("sso_subject")
        batch.alter_column("password_hash", existing_type=sa.String(length=200), nullable=False)
