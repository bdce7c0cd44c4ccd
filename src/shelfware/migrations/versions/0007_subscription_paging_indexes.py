"""subscription paging indexes: keyset pages of one profile or one software model

The workspace and the API page subscriptions by id (``id > cursor ORDER BY id``); filtered by
profile or model, these indexes let a page read ~50 index entries instead of scanning every
seat before the first match (measured: 234 ms -> a few ms at a million rows, bench/web_pages.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 13:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subscription_profile_page", "subscription", ["profile_id", "id"])
    op.create_index("ix_subscription_model_page", "subscription", ["software_model_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_subscription_model_page", table_name="subscription")
    op.drop_index("ix_subscription_profile_page", table_name="subscription")
