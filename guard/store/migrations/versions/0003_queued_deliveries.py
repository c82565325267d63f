"""Queued deliveries: the request records the event, the jobs process runs its handler.

Revision ID: 0003
Revises: 0002
Created: 2026-11-23

`deliveries.payload` keeps the event's minimal model (JSON) of a delivery recorded as `queued`;
the partial index `ix_deliveries_queued` lists those rows in arrival order for the dispatcher.
Existing rows keep their outcome and get no payload (they were handled in their request).
Self-contained like 0001: plain SQLAlchemy types only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

QUEUED_ONLY = sa.text("outcome = 'queued'")


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("payload", sa.Text(), nullable=True))
    op.create_index(
        "ix_deliveries_queued",
        "deliveries",
        ["id"],
        sqlite_where=QUEUED_ONLY,
        postgresql_where=QUEUED_ONLY,
    )


def downgrade() -> None:
    # A queued delivery cannot be kept without its payload: it becomes an `error`, which a
    # redelivery from GitHub processes again.
    op.execute(
        "UPDATE deliveries SET outcome = 'error', detail = 'queued when the schema was "
        "downgraded; redeliver it' WHERE outcome = 'queued'"
    )
    op.drop_index("ix_deliveries_queued", table_name="deliveries")
    # SQLite drops a column only by rebuilding the table: batch mode does that.
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.drop_column("payload")
