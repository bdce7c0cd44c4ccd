"""indexes that serve the keyset pages of the last listings read whole: the directory's
unmatched accounts (by profile and account) and leavers (by email), a rule's dry run (one
model's accounts per profile) and a reviewer's items in an access review (holder, app, item)

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_listings"
down_revision: str | None = "0027_rulesdelta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNMATCHED = sa.text("person_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_subscription_unmatched_page",
        "subscription",
        ["profile_id", "external_id"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )
    op.create_index(
        "ix_subscription_model_profile_page",
        "subscription",
        ["software_model_id", "profile_id", "external_id"],
    )
    op.create_index("ix_person_idp_status_email", "person", ["idp_status", "email"])
    op.create_index(
        "ix_review_item_reviewer_page",
        "review_item",
        ["campaign_id", "reviewer", sa.text("coalesce(holder, '')"), "app", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_review_item_reviewer_page", table_name="review_item")
    op.drop_index("ix_person_idp_status_email", table_name="person")
    op.drop_index("ix_subscription_model_profile_page", table_name="subscription")
    op.drop_index("ix_subscription_unmatched_page", table_name="subscription")
