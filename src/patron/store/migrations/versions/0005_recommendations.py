"""Recommendations: top-N products per customer and similar products, with their own publications.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``recommendation_runs``, ``recommendations`` and ``similar_items``."""
    op.create_table(
        "recommendation_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("products", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recommendation_runs"),
    )
    op.create_table(
        "recommendations",
        sa.Column("publication_id", sa.Integer, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("model", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("publication_id", "customer_id", "rank", name="pk_recommendations"),
    )
    op.create_table(
        "similar_items",
        sa.Column("publication_id", sa.Integer, nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("similar_product_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("model", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("publication_id", "product_id", "rank", name="pk_similar_items"),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("similar_items")
    op.drop_table("recommendations")
    op.drop_table("recommendation_runs")
