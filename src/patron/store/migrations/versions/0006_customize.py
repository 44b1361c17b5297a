"""Customize: the offer catalogue, next-best-action decisions, price quotes, campaigns.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add offers, decisions, quotes and campaigns."""
    op.create_table(
        "offers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=True),
        sa.Column("expected_value", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("campaign", sa.String(128), nullable=True),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index(
        "ix_decisions_customer_id_offer_id_status",
        "decisions",
        ["customer_id", "offer_id", "status"],
    )
    op.create_table(
        "quotes",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("product", sa.String(128), nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quotes"),
    )
    op.create_index(
        "ix_quotes_customer_id_product_expires_at",
        "quotes",
        ["customer_id", "product", "expires_at"],
    )
    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("exported_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_campaigns"),
    )


def downgrade() -> None:
    """Drop the Customize tables."""
    op.drop_table("campaigns")
    op.drop_index("ix_quotes_customer_id_product_expires_at", table_name="quotes")
    op.drop_table("quotes")
    op.drop_index("ix_decisions_customer_id_offer_id_status", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("offers")
