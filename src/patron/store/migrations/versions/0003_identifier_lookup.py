"""Lookup indexes on identifiers: by customer (the agent screen) and by value (find a customer).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index identifiers by (publication, customer) and (publication, value)."""
    # Covering (they hold every column the lookups read), so that SQLite's planner prefers
    # them to the primary key, which only narrows by publication.
    op.create_index(
        "ix_identifiers_publication_id_customer_id_kind_value",
        "identifiers",
        ["publication_id", "customer_id", "kind", "value"],
    )
    op.create_index(
        "ix_identifiers_publication_id_value_customer_id",
        "identifiers",
        ["publication_id", "value", "customer_id"],
    )


def downgrade() -> None:
    """Drop the lookup indexes."""
    op.drop_index("ix_identifiers_publication_id_value_customer_id", table_name="identifiers")
    op.drop_index("ix_identifiers_publication_id_customer_id_kind_value", table_name="identifiers")
