"""Drip irrigation: the question bank, facts, and the question a touch point concerns.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add questions and facts; touch points learn which question they answered."""
    op.create_table(
        "questions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_questions"),
    )
    op.create_table(
        "facts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("is_preference", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("question_id", sa.String(64), nullable=True),
        sa.Column("touchpoint_id", sa.Integer, nullable=True),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_facts"),
    )
    op.create_index("ix_facts_customer_id_attribute", "facts", ["customer_id", "attribute"])
    with op.batch_alter_table("touchpoints") as batch:
        batch.add_column(sa.Column("question_id", sa.String(64), nullable=True))


def downgrade() -> None:
    """Remove the drip-irrigation tables."""
    with op.batch_alter_table("touchpoints") as batch:
        batch.drop_column("question_id")
    op.drop_index("ix_facts_customer_id_attribute", table_name="facts")
    op.drop_table("facts")
    op.drop_table("questions")
