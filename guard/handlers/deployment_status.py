"""`deployment_status` created: a successful deployment is verified; failures are recorded."""

from __future__ import annotations

from guard.events import DeploymentState, DeploymentStatusCreated
from guard.handlers.context import HandlerContext, HandlerResult, accepted, ignored, recorded
from guard.handlers.superseding import record_deployment_of, supersede_older
from guard.jobs.records import open_verification
from guard.store import add_timeline_event
from guard.store.base import utcnow

# The states GitHub ends a deployment with; the others are steps on the way.
FINAL_STATES = frozenset({DeploymentState.SUCCESS, DeploymentState.FAILURE, DeploymentState.ERROR})

NOT_FINAL = "the guard acts on success, failure and error statuses; this one is {state}"
SUCCEEDED = "GitHub reported deployment {id} successful at {url}; verification queued"
NO_URL = "no environment URL"
QUEUED = "deployment {id} to {environment} succeeded; its verification is queued"
ALREADY_SUPERSEDED = (
    "deployment {id} to {environment} succeeded, but deployment {newer} has superseded it: "
    "it is not verified"
)
ENDED_BADLY = "GitHub reported deployment {id} {state}{description}"
RECORDED_FAILURE = "deployment {id} to {environment} ended in {state}; recorded"


def on_deployment_status(ctx: HandlerContext[DeploymentStatusCreated]) -> HandlerResult:
    event = ctx.event
    status = event.deployment_status
    if status.state not in FINAL_STATES:
        return ignored(NOT_FINAL.format(state=status.state.value))
    row = record_deployment_of(
        ctx.session,
        event.deployment,
        event.repository,
        installation_id=event.installation_id,
        environment=event.environment,
        environment_url=status.environment_url,
    )
    log = ctx.log.bind(deployment=row.github_id, environment=row.environment)
    if status.state is not DeploymentState.SUCCESS:
        description = f": {status.description}" if status.description else ""
        add_timeline_event(
            ctx.session,
            f"deployment_{status.state.value}",
            ENDED_BADLY.format(id=row.github_id, state=status.state.value, description=description),
            deployment_id=row.id,
        )
        log.info("deployment.ended_badly", state=status.state.value)
        return recorded(
            RECORDED_FAILURE.format(
                id=row.github_id, environment=row.environment, state=status.state.value
            )
        )
    # A success also tells of the deployment: when its `deployment` event was missed or is
    # still on its way, this is where the older ones learn they are superseded.
    older = supersede_older(ctx.session, row)
    if older:
        ctx.queue.enqueue_supersede(row.repository, row.environment, row.github_id)
    if row.superseded_by_id is not None:
        newer = ctx.session.get_one(type(row), row.superseded_by_id)
        log.info("deployment.superseded_before_verification", newer=newer.github_id)
        return recorded(
            ALREADY_SUPERSEDED.format(
                id=row.github_id, environment=row.environment, newer=newer.github_id
            )
        )
    add_timeline_event(
        ctx.session,
        "deployment_succeeded",
        SUCCEEDED.format(id=row.github_id, url=status.environment_url or NO_URL),
        deployment_id=row.id,
    )
    # The verification's row is committed with the delivery's outcome: if its start job is
    # then lost (the dispatcher dies before queueing it, the queue refuses it), the
    # reconciler finds a queued verification nobody works on and starts it.
    open_verification(ctx.session, row, utcnow())
    ctx.queue.enqueue_verification(row.github_id)
    log.info("verification.queued", environment_url=status.environment_url)
    return accepted(QUEUED.format(id=row.github_id, environment=row.environment))
