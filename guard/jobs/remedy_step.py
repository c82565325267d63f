"""The worker's remedy of a failed deployment, and what became of it in words for the incident.

`run_remedy` hands the verdict to `execute_remedy` (one remedy per failed deployment across
replicas; shadow mode and GUARD_DRY_RUN only describe). `remedy_view` then reads how the remedy
stands from its row, whichever call made it: this one, an earlier attempt, or another replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import sqlalchemy as sa

from guard.incidents.context import RemedyOutcome as Told
from guard.incidents.context import RemedyReport
from guard.jobs.job import Job
from guard.outcomes import Verdict
from guard.policy.models import OnFailure
from guard.remedies import (
    FailedDeployment,
    OutcomeKind,
    RemedyContext,
    RemedyOutcome,
    RemedyRequest,
    Target,
    execute_remedy,
)
from guard.remedies import messages as remedy_messages
from guard.remedies.revert_pr import git_url_for
from guard.severity import Decision
from guard.store import Remedy, RemedyState, TimelineEvent

# What an incident says of its remedy (Incident.remedy_told).
PENDING = "pending"
DONE = "done"
FAILED = "failed"
REFUSED = "refused"
DESCRIBED = "described"
NO_REMEDY = "none"
FINAL = frozenset({DONE, FAILED, REFUSED, DESCRIBED, NO_REMEDY})

REMEDY_PENDING = (
    "The guard is rolling back to `{target}` with {strategy}; this issue gets a comment when "
    "the rollback has ended."
)
PULL_OPENED = (
    "The guard opened a pull request that reverts the deployment: merging it rolls back to "
    "`{target}`."
)
UNKNOWN_TARGET = "the last verified-good ref"
UNKNOWN_STRATEGY = "its strategy"
NO_REASON = "no reason was given"
_STATES = {
    RemedyState.CLAIMED: PENDING,
    RemedyState.RUNNING: PENDING,
    RemedyState.DONE: DONE,
    RemedyState.FAILED: FAILED,
    RemedyState.SKIPPED: DESCRIBED,
}
_DONE_PREFIX = remedy_messages.DONE.split("{", 1)[0]


def run_remedy(
    job: Job, verdict: Verdict, decision: Decision, on_failure: OnFailure
) -> RemedyOutcome:
    """Roll the failed deployment back as the policy says (or describe it); never twice."""
    settings, options = job.ctx.settings, job.ctx.options
    # A revert pull request clones; nobody else may take the verification meanwhile.
    job.hold(options.remedy_s)
    context = RemedyContext(
        github=job.github,
        sessions=job.ctx.sessions,
        git_url=git_url_for(settings.github_api_url),
        resume_after=timedelta(seconds=options.takeover_after_s),
        clock=job.moment,
        # The database outlives a retry; and the incident goes before the failed
        # deployment's statuses (`publish.finish` posts them).
        durable_records=True,
        statuses_later=True,
    )
    request = RemedyRequest(
        repo=job.repo,
        failed=FailedDeployment.from_row(job.deployment),
        rollback=on_failure.rollback,
        reasons=tuple(reason.message for reason in verdict.reasons),
        shadow=decision.shadow,
        dry_run=settings.dry_run,
        run_url=job.run_url,
    )
    outcome = execute_remedy(context, request)
    job.log.info(
        "remedy.outcome", kind=outcome.kind.value, strategy=outcome.strategy, state=outcome.state
    )
    return outcome


@dataclass(frozen=True)
class RemedyView:
    """How the remedy of one failed deployment stands, for the incident and its comments."""

    told: str
    strategy: str | None = None
    target: Target | None = None
    # The refusal or description (no row), the error (failed), or the result (done).
    message: str = ""
    dry_run: bool = False
    shadow: bool = False
    pull_url: str | None = None
    commit_sha: str | None = None
    created_deployment_id: int | None = None

    @property
    def final(self) -> bool:
        return self.told in FINAL

    @property
    def target_label(self) -> str:
        return self.target.label if self.target is not None else UNKNOWN_TARGET

    def url(self, web_url: str, repository: str, environment: str) -> str | None:
        """Where people see the remedy: its pull request, commit, or the environment's page."""
        base = f"{web_url.rstrip('/')}/{repository}"
        if self.pull_url:
            return self.pull_url
        if self.commit_sha:
            return f"{base}/commit/{self.commit_sha}"
        if self.created_deployment_id is not None:
            return f"{base}/deployments/{quote(environment, safe='')}"
        return None


def remedy_view(job: Job, outcome: RemedyOutcome | None) -> RemedyView:
    """The remedy as its row has it now, or what this call's outcome said when it left none."""
    with job.transaction() as session:
        row = session.scalars(
            sa.select(Remedy)
            .where(Remedy.deployment_id == job.deployment.id)
            .execution_options(populate_existing=True)
        ).first()
        done_note = session.scalar(
            sa.select(TimelineEvent.message)
            .where(
                TimelineEvent.deployment_id == job.deployment.id,
                TimelineEvent.kind == "remedy_done",
            )
            .order_by(TimelineEvent.id.desc())
            .limit(1)
        )
    if row is not None:
        told = _STATES[row.state]
        target = None
        if row.target_sha or row.target_ref:
            sha = row.target_sha or ""
            target = Target(sha=sha, ref=row.target_ref or sha, source="stored")
        message = row.error or ""
        if told == DONE:
            message = (done_note or "").removeprefix(_DONE_PREFIX)
        elif told == DESCRIBED and outcome is not None:
            message = outcome.message
        return RemedyView(
            told,
            row.strategy,
            target,
            message,
            dry_run=row.dry_run,
            shadow=row.dry_run and row.state is RemedyState.SKIPPED,
            pull_url=row.html_url,
            commit_sha=row.created_commit_sha,
            created_deployment_id=row.created_deployment_id,
        )
    if outcome is None:
        return RemedyView(NO_REMEDY)
    # Refusals and dry runs write no Remedy row.
    told = REFUSED if outcome.kind is OutcomeKind.REFUSED else DESCRIBED
    return RemedyView(
        told, outcome.strategy, outcome.target, outcome.message, dry_run=told == DESCRIBED
    )


def report_of(
    view: RemedyView, told: str, environment: str, decision: Decision, url: str | None
) -> RemedyReport:
    """What the issue says of the remedy, as it stood (`told`) when the issue was first filed."""
    strategy = view.strategy or UNKNOWN_STRATEGY
    label = view.target_label
    if told == PENDING:
        text = REMEDY_PENDING.format(target=label, strategy=strategy)
        return RemedyReport(Told.ROLLED_BACK, text, strategy, label)
    if told == DONE:
        if view.pull_url:
            text = PULL_OPENED.format(target=label)
            return RemedyReport(Told.ROLLED_BACK, text, strategy, label, url)
        return RemedyReport.rolled_back(label, strategy, url)
    if told == FAILED:
        return RemedyReport.failed(label, strategy, view.message or NO_REASON)
    if told == REFUSED:
        if view.message == remedy_messages.NO_GOOD_REF.format(environment=environment):
            return RemedyReport.no_good_ref(environment)
        return RemedyReport.fix_forward(view.message)
    if told == DESCRIBED:
        if view.shadow:
            return RemedyReport.would_roll_back(label, strategy)
        return RemedyReport(Told.WOULD_ROLL_BACK, view.message, strategy, label)
    return RemedyReport.fix_forward(decision.explanation)
