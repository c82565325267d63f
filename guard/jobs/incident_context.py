"""An incident's facts, gathered once from the stored rows and GitHub: the worker's IncidentContext.

The verdict, its probe results and the timeline come from the database (the run page reads the
same rows); the suspect commits and the last verified-good deployment from GitHub and our
records. Rendering reads nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from guard.incidents.assembly import Finding, Pages, build_incident_context
from guard.incidents.context import (
    DeploymentInfo,
    GoodDeployment,
    IncidentContext,
    RemedyReport,
    run_page_url,
    timeline_entries,
)
from guard.incidents.suspects import SuspectRange, gather_suspects, web_url_for_api
from guard.jobs.job import Job
from guard.outcomes import ProbeResult, Verdict
from guard.remedies import FailedDeployment, Target
from guard.remedies.last_good import find_last_good
from guard.severity import Decision
from guard.store import Deployment, deployment_timeline


@dataclass(frozen=True)
class Judged:
    """A verification's verdict as the worker holds it when acting on it."""

    verdict: Verdict
    decision: Decision
    results: Sequence[ProbeResult]
    # When the verdict was reached.
    at: datetime


def web_url(job: Job) -> str:
    """Where people browse the GitHub the guard talks to."""
    return web_url_for_api(job.ctx.settings.github_api_url)


def environment_page(job: Job, deployment: Deployment) -> str:
    """GitHub's page of the environment's deployments (a deployment has no page of its own)."""
    environment = quote(deployment.environment, safe="")
    return f"{web_url(job)}/{deployment.repository}/deployments/{environment}"


def last_good_of(job: Job, remembered: Target | None) -> Target | None:
    """The remedy's target when it has a commit, else the last verified-good deployment."""
    if remembered is not None and remembered.sha:
        return remembered
    with job.transaction() as session:
        return find_last_good(
            job.github, session, job.repo, FailedDeployment.from_row(job.deployment)
        )


def suspects_of(job: Job, good: Target | None) -> SuspectRange:
    """The commits between the last good deployment and this one (none for a rollback: known
    good code is not a suspect)."""
    if job.deployment.is_remedy:
        return SuspectRange((), (), None, False)
    return gather_suspects(
        job.github, job.repo, good.sha if good else None, job.deployment.sha, web_url(job)
    )


def incident_context(
    job: Job,
    judged: Judged,
    *,
    code: str,
    report: RemedyReport,
    good: Target | None,
    rollback_of: int | None = None,
) -> IncidentContext:
    """Everything the incident issue says, from the rows of this verification."""
    deployment = job.deployment
    with job.transaction() as session:
        timeline = timeline_entries(deployment_timeline(session, deployment.id))
    suspects = suspects_of(job, good)
    web = web_url(job)
    check_run = job.row.check_run_id
    return build_incident_context(
        repository=deployment.repository,
        environment=deployment.environment,
        code=code,
        deployment=DeploymentInfo(
            id=deployment.github_id,
            sha=deployment.sha,
            ref=deployment.ref,
            creator_login=deployment.creator,
            created_at=deployment.created_at,
            environment_url=deployment.environment_url,
            rollback_of=rollback_of,
        ),
        good=GoodDeployment(good.sha, good.ref, good.deployment_id) if good else None,
        finding=Finding(judged.verdict, judged.decision, judged.results, judged.at),
        remedy=report,
        timeline=timeline,
        suspects=suspects,
        pages=Pages(
            deployment=environment_page(job, deployment),
            repository=f"{web}/{deployment.repository}",
            run_page=run_page_url(job.ctx.settings.public_url, job.id),
            check_run=f"{web}/{deployment.repository}/runs/{check_run}" if check_run else None,
            remedy=report.url,
        ),
        # The worker verifies the rollback's deployment too, and comments its verdict.
        rollback_watched=True,
    )
