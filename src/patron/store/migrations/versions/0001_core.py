"""Core tables: store_meta, publications, profiles, identifiers, touchpoints, consents.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the core tables."""
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_meta"),
    )
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("identifiers", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_publications"),
    )
    op.create_table(
        "profiles",
        sa.Column("publication_id", sa.Integer, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("customer_type", sa.String(32), nullable=True),
        sa.Column("clv", sa.Float, nullable=True),
        sa.Column("clv_low", sa.Float, nullable=True),
        sa.Column("clv_high", sa.Float, nullable=True),
        sa.Column("p_alive", sa.Float, nullable=True),
        sa.Column("expected_purchases", sa.Float, nullable=True),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("tier_reason", sa.Text, nullable=True),
        sa.Column("loyalty", sa.String(16), nullable=True),
        sa.Column("segment", sa.String(128), nullable=True),
        sa.Column("segment_description", sa.Text, nullable=True),
        sa.Column("last_purchase", sa.DateTime, nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("publication_id", "customer_id", name="pk_profiles"),
    )
    op.create_table(
        "identifiers",
        sa.Column("publication_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint(
            "publication_id", "kind", "value", "customer_id", name="pk_identifiers"
        ),
    )
    op.create_table(
        "touchpoints",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=True),
        sa.Column("campaign", sa.String(128), nullable=True),
        sa.Column("agent", sa.String(128), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_touchpoints"),
        sa.UniqueConstraint("idempotency_key", name="uq_touchpoints_idempotency_key"),
    )
    op.create_index(
        "ix_touchpoints_customer_id_occurred_at", "touchpoints", ["customer_id", "occurred_at"]
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
    )
    op.create_index(
        "ix_consents_customer_id_purpose_channel", "consents", ["customer_id", "purpose", "channel"]
    )


def downgrade() -> None:
    """Drop the core tables."""
    for name in ("consents", "touchpoints", "identifiers", "profiles", "publications"):
        op.drop_table(name)
    op.drop_table("store_meta")
