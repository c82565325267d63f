"""Carry out the one remedy of a failed deployment, whatever the number of replicas and restarts.

    outcome = execute_remedy(RemedyContext(github, sessions, git_url=...), request)

Plan first (GitHub reads, no transaction held); then, in one short transaction under the
environment's lock, check our records again and claim the remedy (a UNIQUE row: one per failed
deployment, across replicas); then act, writing each step's result to the Remedy row as it
happens (claimed -> running -> done | failed), with a timeline line for each move.

A remedy left `claimed` or `running` by a process that died is resumed by the next call once
it has made no progress for `RemedyContext.resume_after`: a compare-and-swap on its
`updated_at` picks one resumer, and every strategy first looks for what an earlier attempt
made (an idempotency key, a commit marker, a branch, a pull request, a timeline note), so
GitHub is never asked twice for the same thing. With `RemedyContext.durable_records` (the
service's database, which outlives retries) a first attempt skips the looks it cannot need:
its fresh claim shows that nothing was made before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guard.github.errors import GitHubError
from guard.observability.logs import get_logger
from guard.remedies import aws, messages, records, redeploy, revert, revert_pr, workflow
from guard.remedies.errors import RemedyError
from guard.remedies.job import RemedyJob
from guard.remedies.models import (
    OutcomeKind,
    RemedyContext,
    RemedyOutcome,
    RemedyRequest,
    StepResult,
)
from guard.remedies.plan import RemedyPlan, make_plan, resumed_plan
from guard.store import RemedyState, claim_remedy, lock_environment

log = get_logger(__name__)

STRATEGIES: dict[str, Callable[[RemedyJob], StepResult]] = {
    "redeploy": redeploy.run,
    "revert": revert.run,
    "revert_pr": revert_pr.run,
    "workflow": workflow.run,
    "aws_ecs": aws.run,
    "aws_lambda": aws.run,
}


@dataclass(frozen=True)
class _Earlier:
    """A Remedy row as read, detached from its session."""

    id: int
    row_id: int
    strategy: str
    state: RemedyState
    dry_run: bool
    updated_at: datetime
    target_sha: str | None
    target_ref: str | None
    error: str | None
    created_deployment_id: int | None
    created_commit_sha: str | None
    pull_request_number: int | None
    html_url: str | None


def execute_remedy(ctx: RemedyContext, request: RemedyRequest) -> RemedyOutcome:
    """Remedy one failed deployment, or say why not; safe to call again and from many replicas."""
    earlier = _earlier(ctx, request)
    if earlier is not None and not _shadow_to_act_on(earlier, request):
        return _continue(ctx, request, earlier)
    plan = make_plan(ctx, request)
    if plan.refusal is not None:
        return _refuse(ctx, request, plan)
    if plan.dry_run:
        # A dry run writes nothing anywhere, so a real run may follow it.
        return _outcome(OutcomeKind.DESCRIBED, plan.summary, plan)
    claimed = _claim(ctx, request, plan)
    if isinstance(claimed, RemedyOutcome):
        return claimed
    remedy_id, row_id = claimed
    if plan.shadow:
        return _outcome(OutcomeKind.DESCRIBED, plan.summary, plan, remedy_id=remedy_id)
    return _run(RemedyJob(ctx, request, plan, remedy_id, row_id), resumed=False)


def _outcome(kind: OutcomeKind, message: str, plan: RemedyPlan, **details: Any) -> RemedyOutcome:
    return RemedyOutcome(kind, message, plan.strategy, plan.target, **details)


def _shadow_to_act_on(earlier: _Earlier, request: RemedyRequest) -> bool:
    """Shadow mode described this remedy; now it is asked for for real."""
    acting = not (request.shadow or request.dry_run)
    return acting and earlier.dry_run and earlier.state is RemedyState.SKIPPED


def _earlier(ctx: RemedyContext, request: RemedyRequest) -> _Earlier | None:
    with ctx.sessions() as session:
        row = records.find_row(session, request.repo, request.failed.id)
        remedy = records.remedy_of(session, row.id) if row is not None else None
        if remedy is None:
            return None
        return _Earlier(
            id=remedy.id,
            row_id=remedy.deployment_id,
            strategy=remedy.strategy,
            state=remedy.state,
            dry_run=remedy.dry_run,
            updated_at=remedy.updated_at,
            target_sha=remedy.target_sha,
            target_ref=remedy.target_ref,
            error=remedy.error,
            created_deployment_id=remedy.created_deployment_id,
            created_commit_sha=remedy.created_commit_sha,
            pull_request_number=remedy.pull_request_number,
            html_url=remedy.html_url,
        )


def _continue(ctx: RemedyContext, request: RemedyRequest, earlier: _Earlier) -> RemedyOutcome:
    """This deployment was claimed before: resume it if it was abandoned, else say so."""
    plan = resumed_plan(request, earlier.strategy, earlier.target_sha, earlier.target_ref)
    unfinished = earlier.state in records.UNFINISHED and not earlier.dry_run
    if unfinished and ctx.clock() - earlier.updated_at >= ctx.resume_after:
        with ctx.sessions.begin() as session:
            won = records.take_over(session, earlier.id, earlier.updated_at, ctx.clock())
        if won:
            log.warning("remedy.resumed", remedy=earlier.id, state=earlier.state.value)
            job = RemedyJob(ctx, request, plan, earlier.id, earlier.row_id, resumed=True)
            return _run(job, resumed=True)
    if unfinished:
        message = messages.ALREADY_RUNNING.format(
            id=request.failed.id,
            strategy=earlier.strategy,
            minutes=max(1, round(ctx.resume_after.total_seconds() / 60)),
        )
    else:
        message = messages.ALREADY.format(
            id=request.failed.id, strategy=earlier.strategy, state=earlier.state.value
        )
        if earlier.error:
            message = f"{message} {earlier.error}"
    return _outcome(
        OutcomeKind.TAKEN,
        message,
        plan,
        remedy_id=earlier.id,
        state=earlier.state.value,
        created_deployment_id=earlier.created_deployment_id,
        commit_sha=earlier.created_commit_sha,
        pull_number=earlier.pull_request_number,
        html_url=earlier.html_url,
        escalate=earlier.state is RemedyState.FAILED,
    )


def _refuse(ctx: RemedyContext, request: RemedyRequest, plan: RemedyPlan) -> RemedyOutcome:
    """Say why nothing is done, on the deployment's timeline when the guard knows it."""
    assert plan.refusal is not None
    if not plan.dry_run:
        with ctx.sessions.begin() as session:
            row = records.find_row(session, request.repo, request.failed.id)
            if row is not None:
                message = messages.REFUSED.format(why=plan.refusal)
                records.note_once(session, row.id, "remedy_refused", message, ctx.clock())
    log.info("remedy.refused", repository=request.repo, deployment=request.failed.id)
    return _outcome(OutcomeKind.REFUSED, plan.refusal, plan, escalate=plan.escalate)


def _claim(
    ctx: RemedyContext, request: RemedyRequest, plan: RemedyPlan
) -> tuple[int, int] | RemedyOutcome:
    """Check our records and claim, under the environment's lock; or the refusal."""
    repo, environment, now = request.repo, request.environment, ctx.clock()
    refusal: str | None = None
    with ctx.sessions.begin() as session:
        lock_environment(session, repo, environment)
        row = records.ensure_row(session, repo, request.failed)
        newer = records.superseded_by(session, row)
        busy = records.busy_elsewhere(session, repo, environment, row.id, now - ctx.resume_after)
        if newer is not None:
            refusal = messages.SUPERSEDED.format(
                id=request.failed.id,
                newer=newer.github_id,
                sha=newer.sha[:7],
                environment=environment,
            )
        elif busy is not None and not plan.shadow:
            refusal = messages.BUSY.format(other=busy.github_id, environment=environment)
        if refusal is not None:
            message = messages.REFUSED.format(why=refusal)
            records.note_once(session, row.id, "remedy_refused", message, now)
            remedy = None
        else:
            remedy = claim_remedy(session, row.id, plan.strategy, dry_run=plan.shadow)
            if remedy is None and not plan.shadow:
                remedy = records.upgrade_shadow(session, row.id, plan.strategy, now)
        if remedy is not None:
            if plan.target is not None:
                remedy.target_sha = plan.target.sha or None
                remedy.target_ref = plan.target.ref or None
            if plan.shadow:
                remedy.state = RemedyState.SKIPPED
                remedy.finished_at = now
                records.note(session, row.id, "remedy_described", plan.summary, now)
            else:
                message = messages.CLAIMED.format(strategy=plan.strategy, action=plan.action)
                records.note(session, row.id, "remedy_claimed", message, now)
            session.flush()
            return remedy.id, row.id
    if refusal is not None:
        return _outcome(OutcomeKind.REFUSED, refusal, plan)
    # Another replica claimed it between our look and our claim.
    earlier = _earlier(ctx, request)
    assert earlier is not None
    return _continue(ctx, request, earlier)


def _error_text(error: Exception) -> str:
    if isinstance(error, RemedyError | GitHubError):
        return error.message
    return f"{type(error).__name__}: {error}"


def _run(job: RemedyJob, *, resumed: bool) -> RemedyOutcome:
    ctx = job.ctx
    started = messages.RESUMED if resumed else messages.STARTED
    with ctx.sessions.begin() as session:
        records.update(session, job.remedy_id, ctx.clock(), state=RemedyState.RUNNING)
        records.note(
            session,
            job.row_id,
            "remedy_started",
            started.format(action=job.plan.action),
            ctx.clock(),
        )
    try:
        result = STRATEGIES[job.plan.strategy](job)
    except Exception as error:
        text = _error_text(error)
        log.warning("remedy.failed", remedy=job.remedy_id, error=text)
        with ctx.sessions.begin() as session:
            now = ctx.clock()
            records.update(
                session, job.remedy_id, now, state=RemedyState.FAILED, error=text, finished_at=now
            )
            records.note(
                session, job.row_id, "remedy_failed", messages.FAILED.format(error=text), now
            )
        return _outcome(OutcomeKind.FAILED, text, job.plan, remedy_id=job.remedy_id, escalate=True)
    made = {
        "created_deployment_id": result.created_deployment_id,
        "created_commit_sha": result.commit_sha,
        "pull_request_number": result.pull_number,
        "html_url": result.html_url,
    }
    with ctx.sessions.begin() as session:
        now = ctx.clock()
        records.update(
            session,
            job.remedy_id,
            now,
            state=RemedyState.DONE,
            finished_at=now,
            error=None,
            **{key: value for key, value in made.items() if value is not None},
        )
        message = messages.DONE.format(result=result.message)
        records.note(session, job.row_id, "remedy_done", message, now)
    log.info("remedy.done", remedy=job.remedy_id, strategy=job.plan.strategy)
    return _outcome(
        OutcomeKind.DONE,
        message,
        job.plan,
        remedy_id=job.remedy_id,
        created_deployment_id=result.created_deployment_id,
        commit_sha=result.commit_sha,
        pull_number=result.pull_number,
        html_url=result.html_url,
        status=job.status,
    )
