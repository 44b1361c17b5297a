"""What the customer bought lately: the categories of the log's last 90 days, on the profile.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add a nullable ``recent_categories`` column to profiles (earlier publications: null)."""
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("recent_categories", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("recent_categories")
