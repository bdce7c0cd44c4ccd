"""identity: per-account product and group flag, IdP people, domain aliases, same-app links,
rate-limit waits and skipped accounts in the run record

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shelfware.kit.db import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "domain_alias",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("canonical", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_alias")),
        sa.UniqueConstraint("alias", name=op.f("uq_domain_alias_alias")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idp_profile_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("idp_user_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("idp_login", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("idp_status", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("idp_seen_at", UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_person_idp_profile_id_integration_profile"),
            "integration_profile",
            ["idp_profile_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("software_model", schema=None) as batch_op:
        batch_op.add_column(sa.Column("same_app_as_id", BigId, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_software_model_same_app_as_id_software_model"),
            "software_model",
            ["same_app_as_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("group_scoped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("staged_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("group_scoped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waited_seconds", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("skipped", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("skipped")
        batch_op.drop_column("waited_seconds")
    with op.batch_alter_table("staged_account", schema=None) as batch_op:
        batch_op.drop_column("group_scoped")
        batch_op.drop_column("product")
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("group_scoped")
        batch_op.drop_column("product")
    with op.batch_alter_table("software_model", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_software_model_same_app_as_id_software_model"), type_="foreignkey"
        )
        batch_op.drop_column("same_app_as_id")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_person_idp_profile_id_integration_profile"), type_="foreignkey"
        )
        for column in ("idp_seen_at", "idp_status", "idp_login", "idp_user_id", "idp_profile_id"):
            batch_op.drop_column(column)
    op.drop_table("domain_alias")
