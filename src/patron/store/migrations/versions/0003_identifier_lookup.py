"""A lookup index on identifiers by customer (the agent screen lists a customer's identifiers).

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
    """Index identifiers by (publication, customer).

    Finding a customer by (kind, value) uses the primary key.
    """
    # Covering (it holds every column the screen reads), so that SQLite's planner prefers it to
    # the primary key, which would only narrow by publication.
    op.create_index(
        "ix_identifiers_publication_id_customer_id_kind_value",
        "identifiers",
        ["publication_id", "customer_id", "kind", "value"],
    )


def downgrade() -> None:
    """Drop the lookup indexes."""
    op.drop_index("ix_identifiers_publication_id_customer_id_kind_value", table_name="identifiers")
