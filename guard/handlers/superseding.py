"""Recording the deployments webhooks tell of: which are the guard's rollbacks, which superseded."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.events import Deployment as DeploymentPayload
from guard.events import Repository
from guard.remedies import adopt_rollback_deployment
from guard.remedies.workflow import bind_remedy_deployment
from guard.store import (
    Deployment,
    Remedy,
    RemedyState,
    add_timeline_event,
    record_deployment,
)
from guard.store.aliases import FAILED_DEPLOYMENT

SUPERSEDED = "superseded by deployment {newer} ({sha}): it will not be verified or rolled back"
REVERT_DEPLOYED = (
    "Deployment {id} ships {sha}, the revert the guard made: it is verified as the rollback, "
    "and never rolled back itself."
)
# The key the guard puts in the payload of the deployments it creates itself (rollbacks).
# Anyone who can create a deployment can write it too, so it never makes a deployment a
# rollback: only our records do (the remedy row bound to the deployment).
GUARD_PAYLOAD_KEY = "deploy_guard"


def record_deployment_of(
    session: Session,
    deployment: DeploymentPayload,
    repository: Repository,
    *,
    installation_id: int | None,
    environment: str,
    environment_url: str | None = None,
) -> Deployment:
    """The row of the deployment a delivery is about, created on first sight.

    The statuses of a deployment arrive after it was recorded; what they add (where the
    service answers, the installation) is filled in on the existing row. A deployment seen
    for the first time may be the one a dispatched rollback workflow made, or ship a pushed
    revert: it is adopted as that remedy's deployment (verified, and never rolled back
    itself) before anything else looks at it.

    Whether it is a rollback comes from our records alone, never from its payload: the
    redeploy remedy marks the deployment it created by its id (`record_rollback_deployment`),
    adoption binds the others to the remedy row. A payload that claims to be ours only keeps
    the deployment out of adoption (it may be our redeploy, recorded a moment later); it is
    verified, and remedied when it fails, like any other deployment.
    """
    row, created = record_deployment(
        session,
        repository=repository.full_name,
        github_id=deployment.id,
        environment=environment,
        sha=deployment.sha,
        ref=deployment.ref,
        created_at=deployment.created_at,
        task=deployment.task,
        creator=deployment.creator_login,
        installation_id=installation_id,
        environment_url=environment_url,
        production=deployment.production_environment,
        transient=deployment.transient_environment,
    )
    claims_to_be_ours = GUARD_PAYLOAD_KEY in deployment.payload
    if created and not claims_to_be_ours and adopt_revert_deployment(session, row) is None:
        adopt_rollback_deployment(session, row)
    if not created:
        if environment_url is not None:
            row.environment_url = environment_url
        if row.installation_id is None and installation_id is not None:
            row.installation_id = installation_id
        session.flush()
    return row


def adopt_revert_deployment(session: Session, deployment: Deployment) -> Remedy | None:
    """A deployment of the very commit a `revert` remedy pushed is that remedy's deployment.

    Its verification then tells the original incident whether the service is restored, and a
    failure escalates instead of rolling the revert back. Once only: a conditional update.
    """
    failed = FAILED_DEPLOYMENT
    waiting = session.scalars(
        sa.select(Remedy)
        .join(failed, failed.id == Remedy.deployment_id)
        .where(
            failed.repository == deployment.repository,
            failed.environment == deployment.environment,
            failed.id != deployment.id,
            Remedy.strategy == "revert",
            # Running too: the pipeline may ship the pushed commit before the remedy has ended.
            Remedy.state.in_((RemedyState.RUNNING, RemedyState.DONE)),
            Remedy.created_commit_sha == deployment.sha,
            Remedy.created_deployment_id.is_(None),
        )
        .limit(1)
    ).first()
    if waiting is None:
        return None
    if not bind_remedy_deployment(session, waiting, deployment):
        return None
    message = REVERT_DEPLOYED.format(id=deployment.github_id, sha=deployment.sha[:7])
    add_timeline_event(session, "rollback_deployment", message, deployment_id=waiting.deployment_id)
    return waiting


def supersede_older(session: Session, newer: Deployment) -> Sequence[Deployment]:
    """Mark the environment's older deployments superseded by `newer`; returns those marked.

    Older means a smaller GitHub id (ids grow with time; timestamps have one-second ties).
    Only deployments of the same task count: a `deploy:migrations` task does not replace
    the service's `deploy`. Deliveries can arrive out of order, so when a newer deployment
    is already known, `newer` itself is marked superseded by the next one.
    """
    same_place = (
        Deployment.repository == newer.repository,
        Deployment.environment == newer.environment,
        Deployment.task == newer.task,
        Deployment.id != newer.id,
    )
    older = session.scalars(
        sa.select(Deployment)
        .where(*same_place, Deployment.github_id < newer.github_id)
        .where(Deployment.superseded_by_id.is_(None))
        .order_by(Deployment.github_id)
    ).all()
    for row in older:
        row.superseded_by_id = newer.id
        add_timeline_event(
            session,
            "superseded",
            SUPERSEDED.format(newer=newer.github_id, sha=newer.sha[:7]),
            deployment_id=row.id,
        )
    if newer.superseded_by_id is None:
        next_one = session.scalars(
            sa.select(Deployment)
            .where(*same_place, Deployment.github_id > newer.github_id)
            .order_by(Deployment.github_id)
            .limit(1)
        ).first()
        if next_one is not None:
            newer.superseded_by_id = next_one.id
            add_timeline_event(
                session,
                "superseded",
                SUPERSEDED.format(newer=next_one.github_id, sha=next_one.sha[:7]),
                deployment_id=newer.id,
            )
    session.flush()
    return older
