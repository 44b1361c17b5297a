"""The profile's e-mail and phone (the identity step's choice by source priority).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add nullable ``email`` and ``phone`` to profiles (earlier publications keep null)."""
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("phone")
        batch.drop_column("email")
