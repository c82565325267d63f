"""`deployment` created: record the deployment; it supersedes older ones of its environment."""

from __future__ import annotations

from guard.events import DeploymentCreated
from guard.handlers.context import HandlerContext, HandlerResult, accepted, recorded
from guard.handlers.superseding import record_deployment_of, supersede_older
from guard.store import add_timeline_event

CREATED = "deployment {id} of {ref} ({sha}) to {environment} was created by {creator}"
RECORDED = "deployment {id} to {environment} recorded"
SUPERSEDING = (
    "deployment {id} to {environment} recorded; it supersedes {count} older deployment(s), "
    "whose verifications are being stopped"
)


def on_deployment_created(ctx: HandlerContext[DeploymentCreated]) -> HandlerResult:
    event = ctx.event
    deployment = event.deployment
    row = record_deployment_of(
        ctx.session,
        deployment,
        event.repository,
        installation_id=event.installation_id,
        environment=deployment.environment,
    )
    add_timeline_event(
        ctx.session,
        "deployment_created",
        CREATED.format(
            id=deployment.id,
            ref=deployment.ref,
            sha=deployment.sha[:7],
            environment=row.environment,
            creator=deployment.creator_login or "a deleted account",
        ),
        deployment_id=row.id,
    )
    older = supersede_older(ctx.session, row)
    log = ctx.log.bind(deployment=deployment.id, environment=row.environment)
    if not older:
        log.info("deployment.recorded")
        return recorded(RECORDED.format(id=deployment.id, environment=row.environment))
    ctx.queue.enqueue_supersede(row.repository, row.environment, row.github_id)
    log.info("deployment.superseding", superseded=[older_row.github_id for older_row in older])
    return accepted(
        SUPERSEDING.format(id=deployment.id, environment=row.environment, count=len(older))
    )
