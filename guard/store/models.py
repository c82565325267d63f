"""The guard's tables: every step of a deployment's verification is a row with a timestamp."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, validates

from guard.outcomes import (
    PROBE_RESULT_FIELDS,
    Phase,
    ProbeResult,
    ProbeStatus,
    Severity,
    VerdictKind,
)
from guard.store.base import Base, Name, RowId, enum_column, utcnow

# Evidence kept per probe result (the start of the response body).
EVIDENCE_LIMIT_BYTES = 64 * 1024


class DeliveryOutcome(StrEnum):
    """What the webhook endpoint did with a delivery."""

    # Recorded by the request, waiting for the delivery dispatcher to run its handler.
    QUEUED = "queued"
    ACCEPTED = "accepted"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    # A handler failed (or its job could not be queued); a redelivery is processed again.
    ERROR = "error"


class VerificationState(StrEnum):
    """Where one verification is; `finished`, `superseded` and `error` are final."""

    QUEUED = "queued"
    SMOKE = "smoke"
    WATCHING = "watching"
    FINISHED = "finished"
    SUPERSEDED = "superseded"
    ERROR = "error"


class RemedyState(StrEnum):
    """A remedy's progress: claimed first (the only-once point), then run."""

    CLAIMED = "claimed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class IncidentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


class Installation(Base):
    """A GitHub App installation, keyed by GitHub's installation id."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    account_login: Mapped[str] = mapped_column(Name)
    # False once the installation is deleted or suspended: the guard must not act for it.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One webhook delivery, recorded once: X-GitHub-Delivery stays the same on redelivery.

    A `queued` row is also the delivery's job (a transactional outbox): the dispatcher in
    the jobs process runs its handler from `payload` and settles the outcome.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        # Only the queued rows, in arrival order: the dispatcher's look-up stays small however
        # long the delivery log grows.
        sa.Index(
            "ix_deliveries_queued",
            "id",
            sqlite_where=sa.text("outcome = 'queued'"),
            postgresql_where=sa.text("outcome = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    event: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[DeliveryOutcome] = mapped_column(enum_column(DeliveryOutcome))
    # Why it was ignored or rejected.
    detail: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    installation_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    repository: Mapped[str | None] = mapped_column(Name)
    # The event's minimal model as JSON (it parses again with `parse_event`): what the
    # handler of a queued delivery runs on.
    payload: Mapped[str | None] = mapped_column(sa.Text)


class Deployment(Base):
    """A GitHub deployment the guard has seen, including the rollbacks it created itself."""

    __tablename__ = "deployments"
    __table_args__ = (
        sa.UniqueConstraint("repository", "github_id"),
        sa.Index(None, "repository", "environment", "created_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    github_id: Mapped[int] = mapped_column(sa.BigInteger)
    repository: Mapped[str] = mapped_column(Name)
    installation_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    environment: Mapped[str] = mapped_column(Name)
    sha: Mapped[str] = mapped_column(sa.String(64))
    ref: Mapped[str] = mapped_column(sa.Text)
    task: Mapped[str] = mapped_column(Name, default="deploy")
    creator: Mapped[str | None] = mapped_column(Name)
    # GitHub's timestamp; `recorded_at` is when the guard first saw it.
    created_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    environment_url: Mapped[str | None] = mapped_column(sa.Text)
    production: Mapped[bool] = mapped_column(default=False)
    transient: Mapped[bool] = mapped_column(default=False)
    # A newer deployment to the same environment: this one must never be rolled back.
    superseded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="SET NULL")
    )
    # A rollback the guard created; a rollback that fails escalates, it is never rolled back.
    is_remedy: Mapped[bool] = mapped_column(default=False)
    remedied_deployment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="SET NULL")
    )


class Verification(Base):
    """One verification of one deployment: its plan, progress, verdict and decision."""

    __tablename__ = "verifications"
    __table_args__ = (
        sa.UniqueConstraint("deployment_id", "attempt"),
        sa.Index(None, "state", "next_round_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(_fk("deployments.id"))
    # 1 for the first verification; a `/guard retry` adds the next attempt.
    attempt: Mapped[int] = mapped_column(default=1)
    environment: Mapped[str] = mapped_column(Name)
    state: Mapped[VerificationState] = mapped_column(
        enum_column(VerificationState), default=VerificationState.QUEUED
    )
    plan: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    policy_ref: Mapped[str | None] = mapped_column(sa.Text)
    policy_sha: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    smoke_recorded_at: Mapped[datetime | None]
    rounds_done: Mapped[int] = mapped_column(default=0)
    rounds_planned: Mapped[int] = mapped_column(default=0)
    # When the next watch round is due; a restarted worker resumes from here.
    next_round_at: Mapped[datetime | None]
    verdict: Mapped[VerdictKind | None] = mapped_column(enum_column(VerdictKind))
    # When the verdict was reached: the end of "time to detect" (and, for a rollback's own
    # verification, of "time to restore").
    verdict_at: Mapped[datetime | None]
    severity: Mapped[Severity | None] = mapped_column(enum_column(Severity))
    reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
    decision: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    check_run_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    finished_at: Mapped[datetime | None]
    # Which worker is running a step, until when: another takes over only after expiry.
    lease_owner: Mapped[str | None] = mapped_column(Name)
    lease_expires_at: Mapped[datetime | None]


class ProbeResultRow(Base):
    """One probe's observation during a verification (guard.outcomes.ProbeResult, stored)."""

    __tablename__ = "probe_results"
    __table_args__ = (sa.Index(None, "verification_id", "round"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    verification_id: Mapped[int] = mapped_column(_fk("verifications.id"))
    name: Mapped[str] = mapped_column(sa.Text)
    phase: Mapped[Phase] = mapped_column(enum_column(Phase))
    round: Mapped[int] = mapped_column(default=0)
    status: Mapped[ProbeStatus] = mapped_column(enum_column(ProbeStatus))
    # Seconds on the verification's clock, as in ProbeResult; `recorded_at` is wall time.
    at: Mapped[float]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    latency_s: Mapped[float | None]
    value: Mapped[float | None]
    unreachable: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    status_code: Mapped[int | None]
    evidence: Mapped[str] = mapped_column(sa.Text, default="")

    @validates("evidence")
    def _bounded_evidence(self, _key: str, value: str) -> str:
        return truncate_utf8(value, EVIDENCE_LIMIT_BYTES)

    @classmethod
    def from_result(cls, verification_id: int, result: ProbeResult) -> ProbeResultRow:
        return cls(**cls.values_of(verification_id, result))

    @staticmethod
    def values_of(verification_id: int, result: ProbeResult) -> dict[str, Any]:
        """The row's columns for `result`, for a bulk INSERT (no unit of work to flush)."""
        return {
            "verification_id": verification_id,
            "name": result.name,
            "phase": result.phase,
            "round": result.round,
            "status": result.status,
            "at": result.at,
            "latency_s": result.latency_s,
            "value": result.value,
            "unreachable": result.unreachable,
            "summary": result.summary,
            "detail": result.detail,
            "status_code": result.status_code,
            "evidence": result.evidence,
        }

    def to_result(self) -> ProbeResult:
        return ProbeResult(**{name: getattr(self, name) for name in PROBE_RESULT_FIELDS})


class Remedy(Base):
    """The one remedy of a failed deployment; the UNIQUE deployment makes it one across replicas."""

    __tablename__ = "remedies"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(_fk("deployments.id"), unique=True)
    strategy: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[RemedyState] = mapped_column(
        enum_column(RemedyState), default=RemedyState.CLAIMED
    )
    dry_run: Mapped[bool] = mapped_column(default=False)
    target_ref: Mapped[str | None] = mapped_column(sa.Text)
    target_sha: Mapped[str | None] = mapped_column(sa.String(64))
    # What the remedy created on GitHub, whichever applies to its strategy.
    created_deployment_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_commit_sha: Mapped[str | None] = mapped_column(sa.String(64))
    pull_request_number: Mapped[int | None]
    html_url: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


class Incident(Base):
    """The one incident issue of a failed deployment; later events become its comments."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(_fk("deployments.id"), unique=True)
    repository: Mapped[str] = mapped_column(Name)
    environment: Mapped[str] = mapped_column(Name)
    # INC-20261122-001: the day it opened and its number that day.
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    state: Mapped[IncidentState] = mapped_column(
        enum_column(IncidentState), default=IncidentState.OPEN
    )
    # Empty between the claim and the issue being filed.
    issue_number: Mapped[int | None]
    issue_url: Mapped[str | None] = mapped_column(sa.Text)
    # What the issue says of the remedy: `pending` while it runs (a comment follows when it
    # ends), else how it ended; fixed before the issue is filed, so a retry renders the same.
    remedy_told: Mapped[str | None] = mapped_column(sa.String(16))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]


class IncidentComment(Base):
    """A comment the guard claimed on an issue or pull request: posted once across replicas."""

    __tablename__ = "incident_comments"
    __table_args__ = (sa.UniqueConstraint("repository", "issue_number", "key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    # Lower case: GitHub's owner and repository names are case-insensitive.
    repository: Mapped[str] = mapped_column(Name)
    issue_number: Mapped[int]
    # What the comment is (update:service_restored, suspect:4242), as the filer names it.
    key: Mapped[str] = mapped_column(Name)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnownBadSha(Base):
    """A commit that failed verification: the gate refuses it until someone allows it."""

    __tablename__ = "known_bad_shas"
    __table_args__ = (sa.UniqueConstraint("repository", "sha"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    repository: Mapped[str] = mapped_column(Name)
    sha: Mapped[str] = mapped_column(sa.String(64))
    deployment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    allowed_by: Mapped[str | None] = mapped_column(Name)
    allowed_at: Mapped[datetime | None]


class Freeze(Base):
    """A deploy freeze on a repository's environment (all of them when environment is None)."""

    __tablename__ = "freezes"
    __table_args__ = (sa.Index(None, "repository", "environment"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    repository: Mapped[str] = mapped_column(Name)
    environment: Mapped[str | None] = mapped_column(Name)
    # None: until someone lifts it.
    until: Mapped[datetime | None]
    frozen_by: Mapped[str] = mapped_column(Name)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]


class TimelineEvent(Base):
    """One line of a run page or an incident's timeline: what happened, when."""

    __tablename__ = "timeline_events"
    __table_args__ = (
        sa.CheckConstraint(
            "deployment_id IS NOT NULL OR verification_id IS NOT NULL", name="has_subject"
        ),
        sa.Index(None, "deployment_id", "at"),
        sa.Index(None, "verification_id", "at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    deployment_id: Mapped[int | None] = mapped_column(_fk("deployments.id"))
    verification_id: Mapped[int | None] = mapped_column(_fk("verifications.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # A short machine name (smoke_failed, rollback_created, ...) and the sentence shown.
    kind: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.Text)


def truncate_utf8(text: str, limit_bytes: int) -> str:
    """`text` cut to at most `limit_bytes` of UTF-8, never inside a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit_bytes:
        return text
    return encoded[:limit_bytes].decode("utf-8", errors="ignore")


class ServiceMarker(Base):
    """A small named piece of the service's own state, changed by compare-and-set only.

    The missed-deliveries catch-up keeps its lease and its look-back horizon here (JSON),
    so no delivery, verification or other record has to carry it.
    """

    __tablename__ = "service_markers"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    state: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
