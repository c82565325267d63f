"""The API's records: which installation acts for a repository, a deployment to verify, the
verification as JSON. No HTTP here; `api` calls these in short transactions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.github.models import DeploymentRef
from guard.github.port import GitHubPort
from guard.jobs.records import latest_verification, open_verification
from guard.store import (
    Deployment,
    Incident,
    Installation,
    ProbeResultRow,
    Remedy,
    RemedyState,
    Verification,
    add_timeline_event,
    record_deployment,
)

# What the guard marks the deployments it creates for pipelines with (never `deploy_guard`,
# which marks its own rollbacks).
PAYLOAD_KEY = "deploy_guard_api"
CREATED_FOR_RUN = "created by deploy-guard for workflow run {run}"
REQUESTED = "{actor} asked for a verification through the API (workflow run {run})"


def installation_for(session: Session, repository: str, owner: str) -> int | None:
    """The App installation that acts for the repository: the owner's active installation,
    else the one its latest recorded deployment came with."""
    installation = session.scalars(
        sa.select(Installation.id)
        .where(sa.func.lower(Installation.account_login) == owner.lower(), Installation.active)
        .order_by(Installation.updated_at.desc())
        .limit(1)
    ).first()
    if installation is not None:
        return installation
    return session.scalars(
        sa.select(Deployment.installation_id)
        .where(
            sa.func.lower(Deployment.repository) == repository.lower(),
            Deployment.installation_id.is_not(None),
        )
        .order_by(Deployment.id.desc())
        .limit(1)
    ).first()


def known_deployment(session: Session, repository: str, github_id: int) -> Deployment | None:
    """The recorded deployment of this repository with this GitHub id, nowhere else."""
    return session.scalars(
        sa.select(Deployment).where(
            sa.func.lower(Deployment.repository) == repository.lower(),
            Deployment.github_id == github_id,
        )
    ).first()


def deployment_on_github(
    github: GitHubPort, repository: str, environment: str, github_id: int
) -> DeploymentRef | None:
    """The deployment among the environment's on GitHub: only the token's own repository is
    ever looked in, so another repository's deployment id is simply not found."""
    return next(
        (d for d in github.list_deployments(repository, environment) if d.id == github_id), None
    )


def find_or_create_deployment(
    github: GitHubPort, repository: str, environment: str, sha: str, run: str
) -> DeploymentRef:
    """The deployment this run asked for before (a retried call), the environment's newest
    deployment when it is of this commit (the one Actions made for the job), else a new one."""
    listed = github.list_deployments(repository, environment)
    for deployment in listed:
        ours = deployment.payload.get(PAYLOAD_KEY)
        if isinstance(ours, dict) and ours.get("run") == run and deployment.sha == sha:
            return deployment
    if listed and listed[0].sha == sha:
        return listed[0]
    return github.create_deployment(
        repository,
        sha,
        environment,
        payload={PAYLOAD_KEY: {"run": run}},
        description=CREATED_FOR_RUN.format(run=run),
    )


@dataclass(frozen=True)
class Subject:
    """The deployment a verification is asked for, as GitHub has it."""

    repository: str
    github_id: int
    environment: str
    sha: str
    ref: str
    created_at: datetime
    installation_id: int | None
    environment_url: str | None
    creator: str | None


def start_verification(
    session: Session, subject: Subject, *, actor: str, run: str, now: datetime
) -> Verification:
    """Record the deployment (once) and its verification (the latest, or a first one)."""
    row, created = record_deployment(
        session,
        repository=subject.repository,
        github_id=subject.github_id,
        environment=subject.environment,
        sha=subject.sha,
        ref=subject.ref,
        created_at=subject.created_at,
        creator=subject.creator,
        installation_id=subject.installation_id,
        environment_url=subject.environment_url,
    )
    if not created:
        if subject.environment_url is not None:
            row.environment_url = subject.environment_url
        if row.installation_id is None:
            row.installation_id = subject.installation_id
    verification = open_verification(session, row, now)
    add_timeline_event(
        session,
        "verification_requested",
        REQUESTED.format(actor=actor, run=run),
        deployment_id=row.id,
        at=now,
    )
    return verification


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def verification_of(
    session: Session, verification_id: int, repository: str
) -> tuple[Verification, Deployment] | None:
    """A verification and its deployment, if it is of `repository`; None otherwise, whether
    it does not exist or belongs to another repository (callers must not tell which)."""
    row = session.get(Verification, verification_id)
    if row is None:
        return None
    deployment = session.get(Deployment, row.deployment_id)
    if deployment is None or deployment.repository.lower() != repository.lower():
        return None
    return row, deployment


def remedy_link(remedy: Remedy, deployment: Deployment, web_url: str) -> str | None:
    """Where people see the remedy: its pull request, its revert commit, or the
    environment's deployments (a redeploy), as the incident links it."""
    if remedy.html_url:
        return remedy.html_url
    base = f"{web_url.rstrip('/')}/{deployment.repository}"
    if remedy.created_commit_sha:
        return f"{base}/commit/{remedy.created_commit_sha}"
    if remedy.created_deployment_id is not None:
        return f"{base}/deployments/{quote(deployment.environment, safe='')}"
    return None


def remedy_json(
    remedy: Remedy | None, deployment: Deployment, web_url: str
) -> dict[str, Any] | None:
    """The remedy of the deployment: its strategy, how it stands, and the ref it rolled back
    to (`rollback_ref`, set only once the rollback is done, as the Action's output is)."""
    if remedy is None:
        return None
    done = remedy.state is RemedyState.DONE and not remedy.dry_run
    return {
        "strategy": remedy.strategy,
        "state": remedy.state.value,
        "dry_run": remedy.dry_run,
        "target_ref": remedy.target_ref,
        "target_sha": remedy.target_sha,
        "rollback_ref": (remedy.target_ref or remedy.target_sha) if done else None,
        "url": remedy_link(remedy, deployment, web_url),
    }


def incident_json(incident: Incident | None) -> dict[str, Any] | None:
    """The incident filed for the deployment: its code, state, severity and issue."""
    if incident is None:
        return None
    return {
        "code": incident.code,
        "state": incident.state.value,
        "severity": incident.severity.value,
        "issue_number": incident.issue_number,
        "url": incident.issue_url,
    }


def verification_json(
    session: Session,
    row: Verification,
    deployment: Deployment,
    *,
    self_url: str,
    run_url: Callable[[int], str | None],
    web_url: str,
) -> dict[str, Any]:
    """The API's view of one verification: its state, verdict, reasons, checks, what the
    guard did about it (remedy, incident) and links."""
    checks = session.scalars(
        sa.select(ProbeResultRow)
        .where(ProbeResultRow.verification_id == row.id)
        .order_by(ProbeResultRow.round, ProbeResultRow.id)
    ).all()
    incident = session.scalars(
        sa.select(Incident).where(Incident.deployment_id == deployment.id)
    ).first()
    remedy = session.scalars(sa.select(Remedy).where(Remedy.deployment_id == deployment.id)).first()
    remedy_body = remedy_json(remedy, deployment, web_url)
    latest = latest_verification(session, deployment.id)
    return {
        "id": row.id,
        "attempt": row.attempt,
        "latest": latest is not None and latest.id == row.id,
        "state": row.state.value,
        "verdict": row.verdict.value if row.verdict is not None else None,
        "severity": row.severity.value if row.severity is not None else None,
        "reasons": list(row.reasons or []),
        "checks": [
            {
                "name": check.name,
                "phase": check.phase.value,
                "round": check.round,
                "status": check.status.value,
                "summary": check.summary,
                "latency_s": check.latency_s,
                "status_code": check.status_code,
            }
            for check in checks
        ],
        "deployment": {
            "id": deployment.github_id,
            "repository": deployment.repository,
            "environment": deployment.environment,
            "sha": deployment.sha,
            "ref": deployment.ref,
            "environment_url": deployment.environment_url,
        },
        "created_at": _iso(row.created_at),
        "finished_at": _iso(row.finished_at),
        "remedy": remedy_body,
        "incident": incident_json(incident),
        "links": {
            "self": self_url,
            "run": run_url(row.id),
            "incident": incident.issue_url if incident is not None else None,
            "remedy": remedy_body["url"] if remedy_body is not None else None,
        },
    }
