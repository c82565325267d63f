"""Roll back by deploying the last verified-good ref again: a new GitHub deployment the
pipeline's `on: deployment` job ships, verified like any other when its webhook arrives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guard.github.identity import find_own_deployment
from guard.github.models import PAYLOAD_NAMESPACE, DeploymentRef
from guard.remedies import last_good, messages, records, statuses
from guard.remedies.models import StepResult
from guard.store import Deployment

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob

DESCRIPTION = "Rollback of deployment {id} by deploy-guard"


def idempotency_key(repo: str, failed_id: int) -> str:
    """One key per failed deployment: a retry or a resumed run finds the deployment it made."""
    return f"deploy-guard:rollback:{repo}:{failed_id}"


def payload(job: RemedyJob) -> dict[str, Any]:
    """`payload.deploy_guard`: whose rollback this is and why (the client adds the key)."""
    plan = job.plan
    assert plan.target is not None
    return {
        PAYLOAD_NAMESPACE: {
            "remedy_of": plan.failed.id,
            "failed_sha": plan.failed.sha,
            "strategy": "redeploy",
            "reason": plan.reason,
            "target_sha": plan.target.sha,
        }
    }


def find_existing(job: RemedyJob, key: str) -> DeploymentRef | None:
    """The rollback an earlier attempt made: the key's deployment, if the guard created it.

    The key is predictable, so a deployment carrying it that someone else created is not
    taken for ours. Who we are is asked of GitHub only when some deployment carries the key
    (an App knows itself without asking).
    """
    deployments = job.github.list_deployments(job.repo, job.plan.failed.environment)
    if not any(deployment.idempotency_key == key for deployment in deployments):
        return None
    return find_own_deployment(deployments, key, job.github.own_identity())


def ref_to_deploy(job: RemedyJob) -> str:
    """The good ref, or its SHA when the ref no longer names the good commit.

    When the failed deployment deployed that same ref at another commit, the ref has moved
    on from the good one: its SHA is deployed without asking GitHub where the ref is now.
    """
    target, failed = job.plan.target, job.plan.failed
    assert target is not None
    if target.ref == failed.ref and target.sha != failed.sha:
        return target.sha
    return last_good.deployable_ref(job.github, job.repo, target)


def run(job: RemedyJob) -> StepResult:
    plan, github = job.plan, job.github
    target, failed = plan.target, plan.failed
    assert target is not None
    key = idempotency_key(job.repo, failed.id)
    # Only an attempt that may have created the deployment unrecorded needs to look for it.
    created = find_existing(job, key) if job.look_first else None
    if created is None:
        created = github.create_deployment(
            job.repo,
            ref_to_deploy(job),
            failed.environment,
            payload=payload(job),
            description=DESCRIPTION.format(id=failed.id),
            auto_merge=False,
            required_contexts=(),
            idempotency_key=key,
        )
    job.record(created_deployment_id=created.id)
    with job.ctx.sessions.begin() as session:
        failed_row = session.get_one(Deployment, job.row_id)
        records.record_rollback_deployment(session, job.repo, created, failed_row)
    statuses.mark_failed(
        job, messages.STATUS_RESULT_REDEPLOY.format(target=target.label), inactive=True
    )
    return StepResult(
        message=messages.REDEPLOYED.format(
            id=created.id, target=target.label, environment=failed.environment
        ),
        created_deployment_id=created.id,
    )
