"""reclamation workflow: rule exclusions and approvers, candidate notice/answer/decision
columns and realised saving, single-use answer links

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-25 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shelfware.kit.db

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = shelfware.kit.db.UTCDateTime()
RULE_LISTS = ("service_account_patterns", "approvers")
CANDIDATE_COLUMNS = (
    ("notified_at", TIME),
    ("reminded_at", TIME),
    ("deadline_at", TIME),
    ("answer", sa.String(length=20)),
    ("answered_at", TIME),
    ("approver", sa.Text()),
    ("approval_requested_at", TIME),
    ("approved_at", TIME),
    ("realised_saving", sa.Numeric(precision=14, scale=4)),
)


def upgrade() -> None:
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        for name in RULE_LISTS:
            batch_op.add_column(
                sa.Column(name, sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
            )
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        for name in RULE_LISTS:
            batch_op.alter_column(name, server_default=None)
    with op.batch_alter_table("removal_candidate", schema=None) as batch_op:
        for name, type_ in CANDIDATE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "answer_link",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("candidate_id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
        sa.Column("used_for", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["removal_candidate.id"],
            name=op.f("fk_answer_link_candidate_id_removal_candidate"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_answer_link")),
    )
    op.create_index(
        op.f("ix_answer_link_candidate_id"), "answer_link", ["candidate_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_answer_link_candidate_id"), table_name="answer_link")
    op.drop_table("answer_link")
    with op.batch_alter_table("removal_candidate", schema=None) as batch_op:
        for name, _ in reversed(CANDIDATE_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("reclamation_rule", schema=None) as batch_op:
        for name in reversed(RULE_LISTS):
            batch_op.drop_column(name)
