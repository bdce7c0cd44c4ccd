"""directory: people's managers and identity-provider group memberships

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idp_manager_id", sa.String(length=320), nullable=True))
    op.create_table(
        "person_group",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("profile_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_group_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["integration_profile.id"],
            name=op.f("fk_person_group_profile_id_integration_profile"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_group")),
        sa.UniqueConstraint(
            "person_id", "profile_id", "name", name=op.f("uq_person_group_person_id")
        ),
    )
    with op.batch_alter_table("person_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_group_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_group_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_person_group_profile_id"), ["profile_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("person_group")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("idp_manager_id")
