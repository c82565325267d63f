"""Roll back with the repository's own rollback workflow (database downgrades, config restores).

The workflow is dispatched on its ref with inputs templated from what the guard knows
(`{{ last_good.sha }}`, `{{ last_good.ref }}`, `{{ failed.id }}`, `{{ failed.sha }}`,
`{{ environment }}`), in Jinja2's sandbox: a policy is repository content, not trusted code.
GitHub cannot tell us which run a dispatch started, so the next deployment to the environment
is taken as the rollback's own (`adopt_rollback_deployment`) and verified like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from guard.remedies import messages, statuses
from guard.remedies.errors import RemedyError
from guard.remedies.models import RemedyRequest, StepResult, Target
from guard.store import Deployment, Remedy, RemedyState
from guard.store.aliases import FAILED_DEPLOYMENT
from guard.store.base import utcnow
from guard.store.timeline import add_timeline_event

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob

DISPATCHING = "workflow_dispatching"
DISPATCHED = "workflow_dispatched"
ADOPTED = "rollback_deployment"
BAD_INPUT = "input {name!r} of {file} cannot be filled in: {error}"
ADOPTED_MESSAGE = (
    "Deployment {id} ({sha}) to {environment} is the rollback the workflow made; it is "
    "verified like any other, and never rolled back itself."
)

_TEMPLATES = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render_inputs(request: RemedyRequest, target: Target | None) -> dict[str, str]:
    """The workflow's inputs with the placeholders filled in; a missing value is an error."""
    settings = request.rollback.workflow
    if settings is None:
        raise RemedyError("the policy names no workflow (workflow: {file, ref, inputs})")
    failed = request.failed
    context: dict[str, Any] = {
        "failed": {"id": failed.id, "sha": failed.sha, "ref": failed.ref},
        "environment": failed.environment,
        "repository": request.repo,
    }
    if target is not None and target.sha:
        # Without a verified-good deployment, `last_good` stays undefined: using it fails.
        context["last_good"] = {"sha": target.sha, "ref": target.ref}
    rendered = {}
    for name, template in settings.inputs.items():
        try:
            rendered[name] = _TEMPLATES.from_string(template).render(context)
        except TemplateError as error:
            raise RemedyError(
                BAD_INPUT.format(name=name, file=settings.file, error=error)
            ) from error
    return rendered


def run(job: RemedyJob) -> StepResult:
    plan, request = job.plan, job.request
    settings = request.rollback.workflow
    assert settings is not None
    result = messages.WORKFLOW_DISPATCHED.format(
        file=settings.file, ref=settings.ref, environment=plan.failed.environment
    )
    if not job.noted(DISPATCHED):
        if job.noted(DISPATCHING):
            # A dispatch cannot be looked up afterwards; sending it again could run it twice.
            raise RemedyError(messages.DISPATCH_UNCERTAIN.format(file=settings.file))
        job.note(DISPATCHING, f"Dispatching {settings.file} on {settings.ref}.")
        job.github.dispatch_workflow(job.repo, settings.file, settings.ref, plan.inputs)
        job.note(DISPATCHED, f"Dispatched {settings.file} on {settings.ref}: {result}")
    statuses.mark_failed(
        job,
        messages.STATUS_RESULT_OTHER.format(strategy=f"workflow {settings.file}"),
        inactive=False,
    )
    return StepResult(message=result)


def awaiting_deployment(
    failed: type[Deployment], deployment: Deployment, strategy: str
) -> list[sa.ColumnElement[bool]]:
    """The conditions for a done, acted `strategy` remedy of a deployment (`failed`, joined
    on `Remedy.deployment_id`) older than `deployment` to its environment, still waiting
    for the deployment that ships it."""
    return [
        failed.repository == deployment.repository,
        failed.environment == deployment.environment,
        failed.github_id < deployment.github_id,
        failed.id != deployment.id,
        Remedy.strategy == strategy,
        Remedy.state == RemedyState.DONE,
        Remedy.dry_run.is_(False),
        Remedy.created_deployment_id.is_(None),
    ]


def bind_remedy_deployment(session: Session, waiting: Remedy, deployment: Deployment) -> bool:
    """Make `deployment` the one deployment of remedy `waiting`: a conditional update, so
    that of two replicas recording it at once only one binds it. False when already bound."""
    taken = session.execute(
        sa.update(Remedy)
        .where(Remedy.id == waiting.id, Remedy.created_deployment_id.is_(None))
        .values(created_deployment_id=deployment.github_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[tuple[()]]", taken).rowcount != 1:
        return False
    deployment.is_remedy = True
    deployment.remedied_deployment_id = waiting.deployment_id
    session.flush()
    return True


def adopt_rollback_deployment(session: Session, deployment: Deployment) -> Remedy | None:
    """Take a new deployment as the rollback a dispatched workflow was awaited for.

    Call it when a deployment is first recorded. The newest finished `workflow` remedy of an
    older deployment to the same environment that has no deployment yet gets this one; the
    deployment is then a remedy (never rolled back itself). Once only: a conditional update.
    """
    failed = FAILED_DEPLOYMENT
    waiting = session.scalars(
        sa.select(Remedy)
        .join(failed, failed.id == Remedy.deployment_id)
        .where(*awaiting_deployment(failed, deployment, "workflow"))
        .order_by(Remedy.id.desc())
        .limit(1)
    ).first()
    if waiting is None:
        return None
    if not bind_remedy_deployment(session, waiting, deployment):
        return None
    message = ADOPTED_MESSAGE.format(
        id=deployment.github_id, sha=deployment.sha[:7], environment=deployment.environment
    )
    add_timeline_event(session, ADOPTED, message, deployment_id=waiting.deployment_id)
    session.refresh(waiting)
    return waiting
