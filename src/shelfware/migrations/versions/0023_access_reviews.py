"""access review campaigns and their items

Revision ID: see below
Revises: see below
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = shelfware.kit.db.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "review_campaign",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope_kind", sa.String(20), nullable=False),
        sa.Column("scope_value", sa.String(600), nullable=False),
        sa.Column("reviewer_policy", sa.String(20), nullable=False),
        sa.Column("reviewer_email", sa.String(320), nullable=True),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.Column("reminded_at", When, nullable=True),
        sa.Column("escalated_at", When, nullable=True),
        sa.Column("escalated_to_owner_at", When, nullable=True),
        sa.Column("recurrence", sa.String(20), nullable=True),
        sa.Column("next_start_at", When, nullable=True),
        sa.Column("series", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_campaign"),
        sa.UniqueConstraint("name", name="uq_review_campaign_name"),
    )
    op.create_table(
        "review_item",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("subscription_id", BigId, nullable=True),
        sa.Column("profile_id", BigId, nullable=True),
        sa.Column("software_model_id", BigId, nullable=True),
        sa.Column("person_id", BigId, nullable=True),
        sa.Column("holder", sa.String(320), nullable=True),
        sa.Column("username", sa.String(300), nullable=True),
        sa.Column("app", sa.String(620), nullable=False),
        sa.Column("edition", sa.String(200), nullable=False),
        sa.Column("last_activity_at", When, nullable=True),
        sa.Column("idle_days", sa.Integer(), nullable=True),
        sa.Column("annual_cost", sa.Numeric(14, 4), nullable=True),
        sa.Column("reviewer", sa.String(320), nullable=True),
        sa.Column("first_reviewer", sa.String(320), nullable=True),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", When, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("candidate_id", BigId, nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["review_campaign.id"],
            name="fk_review_item_campaign_id_review_campaign",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name="fk_review_item_subscription_id_subscription",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["removal_candidate.id"],
            name="fk_review_item_candidate_id_removal_candidate",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_review_item"),
        sa.UniqueConstraint("campaign_id", "subscription_id", name="uq_review_item_campaign_id"),
    )
    op.create_index(
        "ix_review_item_campaign_reviewer", "review_item", ["campaign_id", "reviewer", "id"]
    )
    op.create_index(
        "ix_review_item_candidate",
        "review_item",
        ["candidate_id"],
        sqlite_where=sa.text("candidate_id IS NOT NULL"),
        postgresql_where=sa.text("candidate_id IS NOT NULL"),
    )
    # each seat's reviewer is its holder's manager, found by the provider's id or login
    op.create_index("ix_person_idp_user", "person", ["idp_profile_id", "idp_user_id"])
    op.create_index(
        "ix_person_idp_login", "person", ["idp_profile_id", sa.text("lower(idp_login)")]
    )


def downgrade() -> None:
    op.drop_index("ix_person_idp_login", table_name="person")
    op.drop_index("ix_person_idp_user", table_name="person")
    op.drop_index("ix_review_item_candidate", table_name="review_item")
    op.drop_index("ix_review_item_campaign_reviewer", table_name="review_item")
    op.drop_table("review_item")
    op.drop_table("review_campaign")
