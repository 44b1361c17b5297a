"""The customer's relationship level on the profile (current, recommended, the actions).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add nullable relationship columns to profiles (earlier publications keep null)."""
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("relationship", sa.String(16), nullable=True))
        batch.add_column(sa.Column("relationship_recommended", sa.String(16), nullable=True))
        batch.add_column(sa.Column("relationship_actions", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the three columns."""
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("relationship_actions")
        batch.drop_column("relationship_recommended")
        batch.drop_column("relationship")
