"""single sign-on (SAML 2.0): the assertions accepted, remembered until they expire (replay)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = shelfware.kit.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "saml_assertion",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saml_assertion")),
        sa.UniqueConstraint("digest", name=op.f("uq_saml_assertion_digest")),
    )
    op.create_index("ix_saml_assertion_expires_at", "saml_assertion", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_saml_assertion_expires_at", table_name="saml_assertion")
    op.drop_table("saml_assertion")
