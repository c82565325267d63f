"""Remedies and incidents wired to verdicts: when a verdict came, what an issue told, comments once.

Revision ID: 0002
Revises: 0001
Created: 2026-11-23

`verifications.verdict_at` times detection and restoration; `incidents.remedy_told` says what
the issue said of the remedy; `incident_comments` holds one row per comment the guard posts, so
no two replicas post the same one. Self-contained like 0001: plain SQLAlchemy types only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
NAME = sa.String(255)


def upgrade() -> None:
    op.add_column("verifications", sa.Column("verdict_at", TIMESTAMP, nullable=True))
    op.add_column("incidents", sa.Column("remedy_told", sa.String(16), nullable=True))
    op.create_table(
        "incident_comments",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("repository", NAME, nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=False),
        sa.Column("key", NAME, nullable=False),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_comments")),
        sa.UniqueConstraint(
            "repository",
            "issue_number",
            "key",
            name=op.f("uq_incident_comments_repository_issue_number_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("incident_comments")
    # SQLite drops a column only by rebuilding the table: batch mode does that.
    with op.batch_alter_table("incidents") as incidents:
        incidents.drop_column("remedy_told")
    with op.batch_alter_table("verifications") as verifications:
        verifications.drop_column("verdict_at")
