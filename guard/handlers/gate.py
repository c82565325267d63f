"""`deployment_protection_rule` requested: record the waiting deployment, answer GitHub after.

The answer (policy at the deployed commit, incidents, freezes, known-bad commits) needs
GitHub calls, so it runs as a follow-up once the delivery is acknowledged.
"""

from __future__ import annotations

from guard.events import DeploymentProtectionRuleRequested
from guard.gate.answer import GateRequest
from guard.gate.background import follow_up
from guard.handlers.context import HandlerContext, HandlerResult, accepted, ignored
from guard.handlers.superseding import record_deployment_of
from guard.store import add_timeline_event

REQUESTED = (
    "Workflow run {run_id} asked the deploy-guard gate whether deployment {id} of {sha} "
    "to {environment} may go ahead"
)
QUEUED = "the gate's answer for run {run_id} to {environment} is on its way"
NO_RUN = (
    "the callback URL {url} names no workflow run, so the gate cannot answer it; "
    "review the deployment on GitHub"
)


def on_protection_rule_requested(
    ctx: HandlerContext[DeploymentProtectionRuleRequested],
) -> HandlerResult:
    event = ctx.event
    run_id = event.workflow_run_id
    log = ctx.log.bind(environment=event.environment)
    if run_id is None:
        # Never silent: nothing can answer this run, and a person has to.
        log.error("gate.no_run_id", callback=event.deployment_callback_url)
        return ignored(NO_RUN.format(url=event.deployment_callback_url))
    deployment = event.deployment
    if deployment is not None:
        row = record_deployment_of(
            ctx.session,
            deployment,
            event.repository,
            installation_id=event.installation_id,
            environment=event.environment,
        )
        add_timeline_event(
            ctx.session,
            "gate_requested",
            REQUESTED.format(
                run_id=run_id,
                id=deployment.id,
                sha=deployment.sha[:7],
                environment=event.environment,
            ),
            deployment_id=row.id,
        )
    request = GateRequest(
        repository=event.repository.full_name,
        repository_url=event.repository.html_url,
        environment=event.environment,
        run_id=run_id,
        sha=deployment.sha if deployment is not None else "",
        deployment_id=deployment.id if deployment is not None else None,
        installation_id=event.installation_id,
    )
    durable = follow_up(ctx, request.work())
    log.info("gate.requested", run=run_id, durable=durable)
    return accepted(QUEUED.format(run_id=run_id, environment=event.environment))
