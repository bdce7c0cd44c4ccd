"""vendor-managed entitlements (seats owned read from the vendor); a unit cost may be unknown

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `entitlement` has no expression index: a batch copy (SQLite) keeps everything
    with op.batch_alter_table("entitlement") as batch:
        batch.add_column(
            sa.Column(
                "profile_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.add_column(sa.Column("vendor_ref", sa.String(length=200), nullable=True))
        batch.alter_column("unit_cost", existing_type=sa.Numeric(14, 4), nullable=True)
        batch.create_foreign_key(
            "fk_entitlement_profile_id_integration_profile",
            "integration_profile",
            ["profile_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ux_entitlement_vendor", ["profile_id", "vendor_ref"], unique=True)


def downgrade() -> None:
    op.execute("DELETE FROM entitlement WHERE unit_cost IS NULL")
    with op.batch_alter_table("entitlement") as batch:
        batch.drop_index("ux_entitlement_vendor")
        batch.drop_constraint("fk_entitlement_profile_id_integration_profile", type_="foreignkey")
        batch.drop_column("vendor_ref")
        batch.drop_column("profile_id")
        batch.alter_column("unit_cost", existing_type=sa.Numeric(14, 4), nullable=False)
