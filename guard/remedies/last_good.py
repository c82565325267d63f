"""The last verified-good ref of an environment: from our own passed verifications, else GitHub's.

Our records come first: a deployment the guard verified and passed is good by definition. A
repository the guard has just been installed on has no such records, so then the
environment's deployments on GitHub are scanned, newest first, through the port.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.github.errors import NotFoundError
from guard.github.models import DeploymentRef
from guard.github.port import GitHubPort
from guard.outcomes import VerdictKind
from guard.remedies.models import FailedDeployment, Target
from guard.store.models import Deployment, Verification

# How many older deployments the GitHub scan reads statuses of before it gives up.
SCAN_LIMIT = 50


def from_records(session: Session, repo: str, failed: FailedDeployment) -> Target | None:
    """The newest older deployment whose latest verification passed, by our own records."""
    latest = (
        sa.select(
            Verification.deployment_id,
            sa.func.max(Verification.attempt).label("attempt"),
        )
        .group_by(Verification.deployment_id)
        .subquery()
    )
    statement = (
        sa.select(Deployment)
        .join(latest, latest.c.deployment_id == Deployment.id)
        .join(
            Verification,
            sa.and_(
                Verification.deployment_id == Deployment.id,
                Verification.attempt == latest.c.attempt,
            ),
        )
        .where(
            Deployment.repository == repo,
            Deployment.environment == failed.environment,
            Deployment.github_id < failed.id,
            # Deploying the failed commit again would undo nothing.
            Deployment.sha != failed.sha,
            Verification.verdict == VerdictKind.PASS,
        )
        .order_by(Deployment.github_id.desc())
        .limit(1)
    )
    row = session.scalars(statement).first()
    if row is None:
        return None
    return Target(sha=row.sha, ref=row.ref, source="guard", deployment_id=row.github_id)


def succeeded(github: GitHubPort, repo: str, deployment_id: int) -> bool:
    """Reached `success` and was not failed afterwards.

    A superseded success carries an `inactive` on top (auto_inactive), and still counts; a
    success the guard later marked `failure` (it failed verification) does not.
    """
    statuses = github.list_deployment_statuses(repo, deployment_id)
    for status in statuses:  # newest first
        if status.state == "inactive":
            continue
        return status.state == "success"
    return False


def from_github(
    github: GitHubPort,
    repo: str,
    failed: FailedDeployment,
    deployments: Sequence[DeploymentRef] | None = None,
) -> Target | None:
    """The newest older deployment of the environment that succeeded, by GitHub's statuses."""
    listed = (
        deployments
        if deployments is not None
        else github.list_deployments(repo, failed.environment)
    )
    candidates = [d for d in listed if d.id < failed.id and d.sha != failed.sha]
    for deployment in candidates[:SCAN_LIMIT]:
        if succeeded(github, repo, deployment.id):
            return Target(
                sha=deployment.sha, ref=deployment.ref, source="github", deployment_id=deployment.id
            )
    return None


def find_last_good(
    github: GitHubPort,
    session: Session,
    repo: str,
    failed: FailedDeployment,
    deployments: Sequence[DeploymentRef] | None = None,
) -> Target | None:
    """Our newest passed verification of the environment, else GitHub's last success."""
    return from_records(session, repo, failed) or from_github(github, repo, failed, deployments)


def resolve(github: GitHubPort, repo: str, ref: str) -> Target | None:
    """A person's target (`--to v1.3.2`): the commit the ref names now, or None."""
    try:
        commit = github.get_commit(repo, ref)
    except NotFoundError:
        return None
    return Target(sha=commit.sha, ref=ref, source="manual")


def deployable_ref(github: GitHubPort, repo: str, target: Target) -> str:
    """The ref to deploy: the good ref while it still names the good commit, else the SHA.

    A branch ref (`main`) has usually moved on to the very commit that failed; deploying it
    would deploy the failure again. A tag that still points where it did reads better.
    """
    if not target.ref or target.ref == target.sha:
        return target.sha
    try:
        still = github.get_commit(repo, target.ref).sha
    except NotFoundError:
        return target.sha
    return target.ref if still == target.sha else target.sha
