"""What the step says about the remedy and the incident, and the known limit of the job's token:
deployments it creates start no workflow, so a `redeploy` is shipped only by something else."""

from __future__ import annotations

from guard.action.report import Note
from guard.incidents.context import RemedyReport
from guard.remedies import OutcomeKind, RemedyOutcome
from guard.remedies.messages import NO_GOOD_REF

# A job has no shared database to number incidents by day, so the deployment's id does.
ACTION_INCIDENT_CODE = "INC-{day:%Y%m%d}-D{deployment}"

NO_DEPLOYMENT_TITLE = "deploy-guard: no deployment to act on"
NO_DEPLOYMENT = (
    "No GitHub deployment of {sha} to {environment} was found, so nothing was rolled back and "
    "no incident was filed. Give the step deployment-id, run it on a deployment or "
    "deployment_status event, or give the job `environment: {environment}` so that Actions "
    "records one."
)
DEPLOYMENT_NOT_FOUND = (
    "Deployment {id} is not among the deployments to {environment}, so nothing was rolled "
    "back and no incident was filed."
)
REMEDY_FAILED_TITLE = "deploy-guard: the remedy or incident failed"
REMEDY_GITHUB_FAILED = "The rollback was not attempted: GitHub answered {error}"
INCIDENT_FAILED = "The incident could not be filed: {error}"

UNSHIPPED_TITLE = "deploy-guard: no workflow will ship the rollback"
UNSHIPPED_DONE = (
    "The rollback deployment was created with the job's GITHUB_TOKEN, and GitHub starts no "
    "workflow for events that token causes: an `on: deployment` workflow will not ship it "
    "(a deployment system listening to webhooks still sees it)."
)
UNSHIPPED_WOULD = (
    "In enforce mode the rollback deployment would be created with the job's GITHUB_TOKEN, "
    "and GitHub starts no workflow for events that token causes: an `on: deployment` "
    "workflow would not ship it."
)
UNSHIPPED_FIX = (
    "To roll back from the pipeline, use `strategy: workflow` (GitHub starts workflow_dispatch "
    "runs even for the job's token), pass a GitHub App token as github-token, or let the "
    "deploy-guard service act (guard-url)."
)
UNSHIPPED_EXAMPLE = """```yaml
on_failure:
  action: rollback
  rollback:
    strategy: workflow
    workflow: {file: rollback.yml, ref: main, inputs: {target: "{{ last_good.sha }}"}}
```"""


def rolled_back_to(outcome: RemedyOutcome) -> str | None:
    """The ref the environment was rolled back to, once the rollback is done."""
    done = outcome.kind is OutcomeKind.DONE or (
        outcome.kind is OutcomeKind.TAKEN and outcome.state == "done"
    )
    target = outcome.target
    if not done or target is None:
        return None
    return target.ref or target.sha or None


def remedy_report(outcome: RemedyOutcome, environment: str, url: str | None) -> RemedyReport:
    """The remedy as the incident tells it."""
    target = outcome.target.label if outcome.target is not None else "?"
    strategy = outcome.strategy
    if rolled_back_to(outcome) is not None:
        return RemedyReport.rolled_back(target, strategy, url)
    if outcome.kind is OutcomeKind.DESCRIBED:
        return RemedyReport.would_roll_back(target, strategy)
    failed = outcome.kind is OutcomeKind.FAILED or (
        outcome.kind is OutcomeKind.TAKEN and outcome.state == "failed"
    )
    if failed:
        return RemedyReport.failed(target, strategy, outcome.message)
    if outcome.escalate:
        return RemedyReport.escalated(url)
    if outcome.message == NO_GOOD_REF.format(environment=environment):
        return RemedyReport.no_good_ref(environment)
    return RemedyReport.fix_forward(outcome.message)


def unshipped_note(outcome: RemedyOutcome, *, shadow: bool) -> Note | None:
    """The warning for a `redeploy` made (or to be made) with the job's own token."""
    if shadow and outcome.kind is OutcomeKind.DESCRIBED:
        lead = UNSHIPPED_WOULD
    elif outcome.created_deployment_id is not None:
        lead = UNSHIPPED_DONE
    else:
        return None
    message = f"{lead} {UNSHIPPED_FIX}"
    return Note("warning", UNSHIPPED_TITLE, message, f"{message}\n\n{UNSHIPPED_EXAMPLE}")
