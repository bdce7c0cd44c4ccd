"""SCIM provisioning: token kinds, provisioned users' attributes, pushed groups

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 10:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = shelfware.kit.db.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=10), server_default="api", nullable=False)
        )
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(
            sa.Column("provisioned", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("external_id", sa.String(length=600), nullable=True))
        batch.add_column(sa.Column("scim_active", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("emails", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("display_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("given_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("family_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("updated_at", Instant(), nullable=True))
        batch.create_index("ix_app_user_external_id", ["external_id"], unique=False)
    op.create_table(
        "scim_group",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=False),
        sa.Column("external_id", sa.String(length=600), nullable=True),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("updated_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_group")),
        sa.UniqueConstraint("display_name", name=op.f("uq_scim_group_display_name")),
    )
    op.create_table(
        "scim_group_member",
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_group.id"],
            name=op.f("fk_scim_group_member_group_id_scim_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_scim_group_member_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_scim_group_member")),
    )
    op.create_index("ix_scim_group_member_user_id", "scim_group_member", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_scim_group_member_user_id", table_name="scim_group_member")
    op.drop_table("scim_group_member")
    op.drop_table("scim_group")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_index("ix_app_user_external_id")
        for column in (
            "updated_at",
            "family_name",
            "given_name",
            "display_name",
            "emails",
            "scim_active",
            "external_id",
            "provisioned",
        ):
            batch.drop_column(column)
    op.execute("DELETE FROM api_token WHERE kind <> 'api'")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("kind")
