"""What the run pages show, read from the stored rows: recent verifications and one run's story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.outcomes import ProbeResult
from guard.report.checks import CheckRow, check_rows
from guard.store.models import (
    Deployment,
    Incident,
    ProbeResultRow,
    Remedy,
    TimelineEvent,
    Verification,
)
from guard.store.timeline import deployment_timeline

RECENT_LIMIT = 50


@dataclass(frozen=True)
class RunSummary:
    """One line of the recent-runs list."""

    id: int
    repository: str
    environment: str
    deployment_id: int
    sha: str
    ref: str
    state: str
    verdict: str | None
    severity: str | None
    created_at: datetime
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repository": self.repository,
            "environment": self.environment,
            "deployment_id": self.deployment_id,
            "sha": self.sha,
            "ref": self.ref,
            "state": self.state,
            "verdict": self.verdict,
            "severity": self.severity,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class RunDetail:
    """Everything one run page shows."""

    summary: RunSummary
    rounds_done: int
    rounds_planned: int
    reasons: list[dict[str, Any]]
    decision: dict[str, Any] | None
    results: list[ProbeResult]
    checks: list[CheckRow]
    timeline: list[tuple[datetime, str, str]]
    remedy: dict[str, Any] | None
    incident: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary.as_dict(),
            "rounds_done": self.rounds_done,
            "rounds_planned": self.rounds_planned,
            "reasons": self.reasons,
            "decision": self.decision,
            "checks": [check.as_dict() for check in self.checks],
            "timeline": [
                {"at": at.isoformat(), "kind": kind, "message": message}
                for at, kind, message in self.timeline
            ],
            "remedy": self.remedy,
            "incident": self.incident,
        }


def _summary(verification: Verification, deployment: Deployment) -> RunSummary:
    return RunSummary(
        id=verification.id,
        repository=deployment.repository,
        environment=verification.environment,
        deployment_id=deployment.github_id,
        sha=deployment.sha,
        ref=deployment.ref,
        state=verification.state.value,
        verdict=verification.verdict.value if verification.verdict else None,
        severity=verification.severity.value if verification.severity else None,
        created_at=verification.created_at,
        finished_at=verification.finished_at,
    )


def recent_runs(
    session: Session, *, repository: str | None = None, limit: int = RECENT_LIMIT
) -> list[RunSummary]:
    """The newest verifications first, optionally of one repository."""
    statement = (
        sa.select(Verification, Deployment)
        .join(Deployment, Verification.deployment_id == Deployment.id)
        .order_by(Verification.created_at.desc(), Verification.id.desc())
        .limit(limit)
    )
    if repository:
        statement = statement.where(Deployment.repository == repository)
    return [_summary(v, d) for v, d in session.execute(statement)]


def run_detail(session: Session, verification_id: int) -> RunDetail | None:
    """One run's verdict, checks, probe results, timeline, remedy and incident; None if unknown."""
    row = session.execute(
        sa.select(Verification, Deployment)
        .join(Deployment, Verification.deployment_id == Deployment.id)
        .where(Verification.id == verification_id)
    ).first()
    if row is None:
        return None
    verification, deployment = row
    results = [
        stored.to_result()
        for stored in session.scalars(
            sa.select(ProbeResultRow)
            .where(ProbeResultRow.verification_id == verification.id)
            .order_by(ProbeResultRow.round, ProbeResultRow.at, ProbeResultRow.id)
        )
    ]
    remedy = session.scalar(sa.select(Remedy).where(Remedy.deployment_id == deployment.id))
    incident = session.scalar(sa.select(Incident).where(Incident.deployment_id == deployment.id))
    return RunDetail(
        summary=_summary(verification, deployment),
        rounds_done=verification.rounds_done,
        rounds_planned=verification.rounds_planned,
        reasons=list(verification.reasons or []),
        decision=verification.decision,
        results=results,
        checks=check_rows(results),
        timeline=[_line(event) for event in deployment_timeline(session, deployment.id)],
        remedy=_remedy(remedy) if remedy else None,
        incident=_incident(incident) if incident else None,
    )


def _line(event: TimelineEvent) -> tuple[datetime, str, str]:
    return (event.at, event.kind, event.message)


def _remedy(remedy: Remedy) -> dict[str, Any]:
    return {
        "strategy": remedy.strategy,
        "state": remedy.state.value,
        "dry_run": remedy.dry_run,
        "target_ref": remedy.target_ref,
        "target_sha": remedy.target_sha,
        "html_url": remedy.html_url,
        "error": remedy.error,
    }


def _incident(incident: Incident) -> dict[str, Any]:
    return {
        "code": incident.code,
        "severity": incident.severity.value,
        "state": incident.state.value,
        "issue_number": incident.issue_number,
        "issue_url": incident.issue_url,
    }
