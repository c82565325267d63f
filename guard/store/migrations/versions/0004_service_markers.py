"""Service markers: named pieces of the service's own state (the catch-up's lease and horizon).

Revision ID: 0004
Revises: 0003
Created: 2026-11-23

Self-contained like 0001: plain SQLAlchemy types only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_markers",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_markers")),
    )


def downgrade() -> None:
    op.drop_table("service_markers")
