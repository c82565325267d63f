"""After a failing verdict in the runner: the policy's remedy and the incident, with the job's own
token, through the same `execute_remedy` and `IncidentFiler` as the service.

The only-once records live in a SQLite file under RUNNER_TEMP: a job has no shared database,
so what holds across re-runs is GitHub's side (the rollback's idempotency key, the incident
issue's marker), which both paths look up before they create anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from guard.action.local import LocalVerification
from guard.action.remedy_words import (
    ACTION_INCIDENT_CODE,
    DEPLOYMENT_NOT_FOUND,
    INCIDENT_FAILED,
    NO_DEPLOYMENT,
    NO_DEPLOYMENT_TITLE,
    REMEDY_FAILED_TITLE,
    REMEDY_GITHUB_FAILED,
    remedy_report,
    rolled_back_to,
    unshipped_note,
)
from guard.action.report import Note
from guard.action.runner_env import ActionInputs, Runner
from guard.github.client import GitHubClient
from guard.github.errors import GitHubError
from guard.github.models import DeploymentRef
from guard.incidents.assembly import Finding, Pages, build_incident_context
from guard.incidents.context import (
    DeploymentInfo,
    GoodDeployment,
    RemedyReport,
    timeline_entries,
)
from guard.incidents.filer import IncidentFiler
from guard.incidents.suspects import gather_suspects
from guard.outcomes import Severity, VerdictKind
from guard.remedies import (
    FailedDeployment,
    RemedyContext,
    RemedyOutcome,
    RemedyRequest,
    Target,
    execute_remedy,
)
from guard.remedies import records as remedy_records
from guard.remedies.last_good import from_github
from guard.remedies.revert_pr import git_url_for
from guard.severity import Action, Decision, decide
from guard.store import Incident as IncidentRow
from guard.store import (
    claim_incident,
    deployment_timeline,
    make_engine,
    make_session_factory,
    upgrade,
)

STORE_FILE = "deploy-guard-action.db"


@dataclass
class Acted:
    """What the step did on GitHub after the verdict."""

    decision: Decision
    deployment: DeploymentRef | None = None
    remedy: str | None = None
    remedy_url: str | None = None
    rollback_ref: str | None = None
    incident_url: str | None = None
    notes: list[Note] = field(default_factory=list)


def find_deployment(
    github: GitHubClient, runner: Runner, inputs: ActionInputs, notes: list[Note]
) -> DeploymentRef | None:
    """The deployment to act on: the input's, the event's, else the environment's newest of
    this commit (Actions makes one for a job with `environment:`)."""
    deployments = github.list_deployments(runner.repository, inputs.environment)
    event = runner.deployment
    wanted = inputs.deployment_id
    if wanted is None and event is not None and event.environment == inputs.environment:
        wanted = event.id
    if wanted is not None:
        found = next((d for d in deployments if d.id == wanted), None)
        if found is None:
            message = DEPLOYMENT_NOT_FOUND.format(id=wanted, environment=inputs.environment)
            notes.append(Note("warning", NO_DEPLOYMENT_TITLE, message))
        return found
    sha = runner.sha or (event.sha if event else None)
    found = next((d for d in deployments if d.sha == sha), None)
    if found is None:
        message = NO_DEPLOYMENT.format(environment=inputs.environment, sha=(sha or "?")[:7])
        notes.append(Note("warning", NO_DEPLOYMENT_TITLE, message))
    return found


@contextmanager
def open_store(runner: Runner) -> Iterator[sessionmaker[Session]]:
    """A throwaway database for this job's only-once records."""
    url = f"sqlite:///{runner.temp / STORE_FILE}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def act_on_verdict(
    runner: Runner,
    inputs: ActionInputs,
    found: LocalVerification,
    github: GitHubClient,
    secrets: Mapping[str, str],
    *,
    clock: Callable[[], float],
) -> Acted:
    """Remedy and file the incident as the decision says; nothing at all for a clean pass."""
    acted = Acted(found.decision)
    if found.decision.action in (Action.NONE, Action.RECORD):
        return acted
    deployment = find_deployment(github, runner, inputs, acted.notes)
    if deployment is None:
        return acted
    acted.deployment = deployment
    # A rollback only when its payload says so AND GitHub says this step's identity created
    # it (the job's `github-actions[bot]`, an App token's bot, a person's token's account).
    failed = FailedDeployment.from_github(deployment, github.own_identity)
    if failed.is_remedy and found.verdict.kind is VerdictKind.FAIL:
        # The deployment being verified is a rollback: it is never rolled back again.
        acted.decision = decide(
            found.verdict,
            found.environment.on_failure,
            mode=found.mode,
            is_remedy_verification=True,
        )
    report = RemedyReport.fix_forward(acted.decision.explanation)
    target: Target | None = None
    with open_store(runner) as sessions:
        if acted.decision.action is Action.ROLLBACK:
            report, target = _remedy(runner, inputs, found, github, sessions, failed, acted)
        if acted.decision.files_incident:
            _incident(
                runner, found, github, sessions, secrets, failed, acted, report, target, clock
            )
    return acted


def _remedy(  # noqa: PLR0917 - what a remedy is made of
    runner: Runner,
    inputs: ActionInputs,
    found: LocalVerification,
    github: GitHubClient,
    sessions: sessionmaker[Session],
    failed: FailedDeployment,
    acted: Acted,
) -> tuple[RemedyReport, Target | None]:
    rollback = found.environment.on_failure.rollback
    request = RemedyRequest(
        repo=runner.repository,
        failed=failed,
        rollback=rollback,
        reasons=tuple(reason.message for reason in found.verdict.reasons),
        shadow=acted.decision.shadow,
        run_url=runner.run_url,
    )
    context = RemedyContext(
        github=github, sessions=sessions, git_url=git_url_for(runner.api_url), workdir=runner.temp
    )
    try:
        outcome: RemedyOutcome = execute_remedy(context, request)
    except GitHubError as error:
        message = REMEDY_GITHUB_FAILED.format(error=error.message)
        acted.remedy = message
        acted.notes.append(Note("error", REMEDY_FAILED_TITLE, message))
        return RemedyReport.failed("?", rollback.strategy, error.message), None
    acted.remedy = outcome.message
    if outcome.html_url:
        acted.remedy_url = outcome.html_url
    elif outcome.created_deployment_id is not None:
        acted.remedy_url = runner.environment_url(failed.environment)
    acted.rollback_ref = rolled_back_to(outcome)
    if rollback.strategy == "redeploy" and inputs.token_is_job_token:
        note = unshipped_note(outcome, shadow=acted.decision.shadow)
        if note is not None:
            acted.notes.append(note)
    report = remedy_report(outcome, found.environment_name, acted.remedy_url)
    return report, outcome.target


def _incident(  # noqa: PLR0917 - the pieces the incident is made of
    runner: Runner,
    found: LocalVerification,
    github: GitHubClient,
    sessions: sessionmaker[Session],
    secrets: Mapping[str, str],
    failed: FailedDeployment,
    acted: Acted,
    remedy: RemedyReport,
    target: Target | None,
    clock: Callable[[], float],
) -> None:
    deployment = acted.deployment
    assert deployment is not None
    now = datetime.fromtimestamp(clock(), UTC)
    severity = acted.decision.severity or found.verdict.severity or Severity.P1
    code = ACTION_INCIDENT_CODE.format(day=now, deployment=failed.id)
    incident_id: int | None = None
    try:
        good = _last_good(github, runner, failed, target)
        suspects = gather_suspects(
            github, runner.repository, good.sha if good else None, failed.sha, runner.server_url
        )
        with sessions.begin() as session:
            row = remedy_records.ensure_row(session, runner.repository, failed)
            claimed = claim_incident(
                session,
                row.id,
                repository=runner.repository,
                environment=failed.environment,
                severity=severity,
                now=now,
            )
            if claimed is not None:
                # No shared database numbers a job's incidents: the deployment id does.
                claimed.code = code
                session.flush()
                incident_id = claimed.id
            timeline = timeline_entries(deployment_timeline(session, row.id))
        context = build_incident_context(
            repository=runner.repository,
            environment=failed.environment,
            code=code,
            deployment=DeploymentInfo(
                id=deployment.id,
                sha=deployment.sha,
                ref=deployment.ref,
                creator_login=deployment.creator_login,
                created_at=deployment.created_at,
                url=runner.environment_url(failed.environment),
                environment_url=found.base_url,
            ),
            good=good,
            finding=Finding(found.verdict, acted.decision, found.results, now),
            remedy=remedy,
            timeline=timeline,
            suspects=suspects,
            pages=Pages(
                deployment=runner.environment_url(failed.environment),
                repository=runner.repository_url,
                run_page=runner.run_url,
                remedy=acted.remedy_url,
            ),
            # The step verifies only its own job's deployment: the rollback's is not watched.
            rollback_watched=False,
        )
        filer = IncidentFiler(
            github,
            runner.repository,
            policy=found.environment.on_failure.incident,
            notify=found.environment.on_failure.notify,
            environ=secrets,
            web_url=runner.server_url,
        )
        filed = filer.file(context)
    except GitHubError as error:
        message = INCIDENT_FAILED.format(error=error.message)
        acted.notes.append(Note("error", REMEDY_FAILED_TITLE, message))
        return
    acted.incident_url = filed.issue.html_url
    if incident_id is not None:
        with sessions.begin() as session:
            stored = session.get_one(IncidentRow, incident_id)
            stored.issue_number = filed.issue.number
            stored.issue_url = filed.issue.html_url


def _last_good(
    github: GitHubClient, runner: Runner, failed: FailedDeployment, target: Target | None
) -> GoodDeployment | None:
    """The rollback's target when it was a commit, else GitHub's last successful deployment."""
    if target is None or not target.sha:
        try:
            target = from_github(github, runner.repository, failed)
        except GitHubError:
            # Without it the incident lists the deployed commit alone: still worth filing.
            target = None
    if target is None:
        return None
    return GoodDeployment(target.sha, target.ref, target.deployment_id)
