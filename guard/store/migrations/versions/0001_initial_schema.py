"""Initial schema: installations, deliveries, deployments and everything a verification records.

Revision ID: 0001
Revises:
Created: 2026-11-22

Self-contained on purpose: a migration describes the schema as it was, so it uses plain
SQLAlchemy types and never imports the models, which keep changing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# 64-bit row ids; SQLite autoincrements only a column typed INTEGER.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
NAME = sa.String(255)
SHA = sa.String(64)
# Enum values are stored as plain text: a new state needs no migration.
STATE = sa.String(16)


def _id() -> sa.Column[int]:
    return sa.Column("id", ROW_ID, nullable=False)


def upgrade() -> None:
    op.create_table(
        "installations",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_login", NAME, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installations")),
    )
    op.create_table(
        "deliveries",
        _id(),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=True),
        sa.Column("outcome", STATE, nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("repository", NAME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_deliveries_delivery_id")),
    )
    op.create_table(
        "deployments",
        _id(),
        sa.Column("github_id", sa.BigInteger(), nullable=False),
        sa.Column("repository", NAME, nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("environment", NAME, nullable=False),
        sa.Column("sha", SHA, nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("task", NAME, nullable=False),
        sa.Column("creator", NAME, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("environment_url", sa.Text(), nullable=True),
        sa.Column("production", sa.Boolean(), nullable=False),
        sa.Column("transient", sa.Boolean(), nullable=False),
        sa.Column("superseded_by_id", ROW_ID, nullable=True),
        sa.Column("is_remedy", sa.Boolean(), nullable=False),
        sa.Column("remedied_deployment_id", ROW_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["deployments.id"],
            name=op.f("fk_deployments_superseded_by_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["remedied_deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployments_remedied_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint(
            "repository", "github_id", name=op.f("uq_deployments_repository_github_id")
        ),
    )
    op.create_index(
        op.f("ix_deployments_repository_environment_created_at"),
        "deployments",
        ["repository", "environment", "created_at"],
    )
    op.create_table(
        "verifications",
        _id(),
        sa.Column("deployment_id", ROW_ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("environment", NAME, nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("policy_ref", sa.Text(), nullable=True),
        sa.Column("policy_sha", SHA, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("smoke_recorded_at", TIMESTAMP, nullable=True),
        sa.Column("rounds_done", sa.Integer(), nullable=False),
        sa.Column("rounds_planned", sa.Integer(), nullable=False),
        sa.Column("next_round_at", TIMESTAMP, nullable=True),
        sa.Column("verdict", STATE, nullable=True),
        sa.Column("severity", STATE, nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("check_run_id", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("lease_owner", NAME, nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_verifications_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
        sa.UniqueConstraint(
            "deployment_id", "attempt", name=op.f("uq_verifications_deployment_id_attempt")
        ),
    )
    op.create_index(
        op.f("ix_verifications_state_next_round_at"), "verifications", ["state", "next_round_at"]
    )
    op.create_table(
        "probe_results",
        _id(),
        sa.Column("verification_id", ROW_ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phase", STATE, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", STATE, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("latency_s", sa.Double(), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            name=op.f("fk_probe_results_verification_id_verifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_results")),
    )
    op.create_index(
        op.f("ix_probe_results_verification_id_round"),
        "probe_results",
        ["verification_id", "round"],
    )
    op.create_table(
        "remedies",
        _id(),
        sa.Column("deployment_id", ROW_ID, nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("target_ref", sa.Text(), nullable=True),
        sa.Column("target_sha", SHA, nullable=True),
        sa.Column("created_deployment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_commit_sha", SHA, nullable=True),
        sa.Column("pull_request_number", sa.Integer(), nullable=True),
        sa.Column("html_url", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_remedies_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remedies")),
        # One remedy per failed deployment, however many replicas decide to remedy it.
        sa.UniqueConstraint("deployment_id", name=op.f("uq_remedies_deployment_id")),
    )
    op.create_table(
        "incidents",
        _id(),
        sa.Column("deployment_id", ROW_ID, nullable=False),
        sa.Column("repository", NAME, nullable=False),
        sa.Column("environment", NAME, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("severity", STATE, nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("issue_url", sa.Text(), nullable=True),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_incidents_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        # One incident per failed deployment.
        sa.UniqueConstraint("deployment_id", name=op.f("uq_incidents_deployment_id")),
        sa.UniqueConstraint("code", name=op.f("uq_incidents_code")),
    )
    op.create_table(
        "known_bad_shas",
        _id(),
        sa.Column("repository", NAME, nullable=False),
        sa.Column("sha", SHA, nullable=False),
        sa.Column("deployment_id", ROW_ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("allowed_by", NAME, nullable=True),
        sa.Column("allowed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_known_bad_shas_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_bad_shas")),
        sa.UniqueConstraint("repository", "sha", name=op.f("uq_known_bad_shas_repository_sha")),
    )
    op.create_table(
        "freezes",
        _id(),
        sa.Column("repository", NAME, nullable=False),
        sa.Column("environment", NAME, nullable=True),
        sa.Column("until", TIMESTAMP, nullable=True),
        sa.Column("frozen_by", NAME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("lifted_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freezes")),
    )
    op.create_index(
        op.f("ix_freezes_repository_environment"), "freezes", ["repository", "environment"]
    )
    op.create_table(
        "timeline_events",
        _id(),
        sa.Column("deployment_id", ROW_ID, nullable=True),
        sa.Column("verification_id", ROW_ID, nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "deployment_id IS NOT NULL OR verification_id IS NOT NULL",
            name=op.f("ck_timeline_events_has_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_timeline_events_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            name=op.f("fk_timeline_events_verification_id_verifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
    )
    op.create_index(
        op.f("ix_timeline_events_deployment_id_at"), "timeline_events", ["deployment_id", "at"]
    )
    op.create_index(
        op.f("ix_timeline_events_verification_id_at"),
        "timeline_events",
        ["verification_id", "at"],
    )


def downgrade() -> None:
    # Dependents first; dropping a table drops its indexes.
    for table in (
        "timeline_events",
        "freezes",
        "known_bad_shas",
        "incidents",
        "remedies",
        "probe_results",
        "verifications",
        "deployments",
        "deliveries",
        "installations",
    ):
        op.drop_table(table)
