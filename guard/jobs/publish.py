"""What a verification shows on GitHub: its check run as it goes, and the verdict at the end.

GitHub is told first and the database second: a step that dies in between is repeated,
and each GitHub write here is either idempotent (a PATCH of the check run) or looked up
before it is made (the check run id stored on the row, the deployment's statuses).
"""

from __future__ import annotations

from guard.github.errors import GitHubError
from guard.github.models import CheckStatus
from guard.jobs import records
from guard.jobs.job import Job
from guard.jobs.policy_source import pinned_policy
from guard.jobs.verdicts import on_verdict
from guard.observability.metrics import count_verification
from guard.outcomes import VerdictKind
from guard.report import check_run as render
from guard.report.checks import check_rows
from guard.severity import decide
from guard.store import Deployment, VerificationState
from guard.verification import Verification as Engine

CHECK_RUN_CREATED = "Check run {name} created on {sha}."
EXTERNAL_ID = "deploy-guard:{deployment}:{verification}"
CHECK_RUNS_NEED_AN_APP = (
    "No check run: GitHub lets only a GitHub App create check runs, and the guard "
    "authenticates with a token (GUARD_GITHUB_TOKEN). The verdict is on the run page."
)
CHECK_RUN_COMPLETED = "Check run {name} completed: {conclusion}."
STATUS_POSTED = "Deployment {deployment} marked failure on GitHub{link}."
STATUS_SKIPPED_SHADOW = (
    "Shadow mode: deployment {deployment} was not marked failure on GitHub; the verdict is "
    "reported on the check run only."
)
FINISHED = "Verification finished: {verdict}{severity}."
SUPERSEDED = (
    "Superseded by deployment {newer} after {done} of {planned} watch rounds: "
    "not judged, not rolled back."
)
GAVE_UP = "Gave up after {count} failed attempts; the last: {error}"


def external_id(job: Job) -> str:
    """What the check run carries to be found again: the deployment and this verification."""
    return EXTERNAL_ID.format(deployment=job.deployment.github_id, verification=job.id)


def create_check_run(job: Job, output: render.CheckRunOutput) -> int:
    """Create the verification's one check run and store its id before anything else.

    A step killed between GitHub's answer and the database write is repeated: it finds the
    run it made by its external id and shows `output` on that one instead of making another.
    """
    name = render.check_run_name(job.deployment.environment)
    key = external_id(job)
    # Held from the look-up to the stored id: a twin step would make a second run meanwhile.
    job.hold()
    status: CheckStatus = "completed" if output.conclusion else "in_progress"
    created = job.github.find_check_run(job.repo, job.deployment.sha, name, key)
    if created is None:
        created = job.github.create_check_run(
            job.repo,
            job.deployment.sha,
            name,
            status=status,
            title=output.title,
            summary=output.summary,
            text=output.text,
            details_url=job.run_url,
            conclusion=output.conclusion,
            external_id=key,
        )
    else:
        job.log.info("check_run.found", check_run=created.id)
        _update(job, created.id, output)
    with job.transaction() as session:
        stored = records.store_check_run_id(session, job.id, created.id)
        if stored:
            records.note(
                session,
                "check_run_created",
                CHECK_RUN_CREATED.format(name=name, sha=job.deployment.sha[:7]),
                at=job.moment(),
                verification_id=job.id,
            )
    if not stored:
        # Only a step that outlived its lease gets here; its twin's run is the one kept.
        job.log.warning("check_run.duplicate", check_run=created.id)
    job.reload()
    assert job.row.check_run_id is not None
    return job.row.check_run_id


def _update(job: Job, check_run_id: int, output: render.CheckRunOutput) -> None:
    job.github.update_check_run(
        job.repo,
        check_run_id,
        status="completed" if output.conclusion else "in_progress",
        conclusion=output.conclusion,
        title=output.title,
        summary=output.summary,
        text=output.text,
    )


def _without_check_runs(job: Job) -> bool:
    """True (after noting why, once) when check runs cannot be shown at all."""
    if job.ctx.check_runs:
        return False
    with job.transaction() as session:
        records.note_once(
            session,
            "check_run_unavailable",
            CHECK_RUNS_NEED_AN_APP,
            at=job.moment(),
            verification_id=job.id,
        )
    return True


def show(job: Job, output: render.CheckRunOutput) -> None:
    """Put `output` on the check run, creating the run if the verification has none yet."""
    if _without_check_runs(job):
        return
    if job.row.check_run_id is None:
        create_check_run(job, output)
        return
    _update(job, job.row.check_run_id, output)


def ensure_check_run(job: Job, *, has_smoke: bool) -> None:
    if job.row.check_run_id is None and not _without_check_runs(job):
        create_check_run(job, render.started(job.subject, has_smoke=has_smoke, run_url=job.run_url))


def show_progress(job: Job, engine: Engine) -> None:
    output = render.progress(
        job.subject,
        rounds_done=engine.rounds_done,
        rounds_planned=engine.rounds_planned,
        failures=engine.failures_so_far,
        rows=check_rows(engine.results),
        run_url=job.run_url,
    )
    show(job, output)


def _mark_deployment_failed(job: Job, description: str) -> None:
    """A `failure` status linking to the run, unless one with these words is there already."""
    statuses = job.github.list_deployment_statuses(job.repo, job.deployment.github_id)
    if any(s.state == "failure" and s.description == description for s in statuses):
        return
    job.github.create_deployment_status(
        job.repo,
        job.deployment.github_id,
        "failure",
        description=description,
        log_url=job.run_url,
        # Without it the environment would lose its link to the service in GitHub's UI.
        environment_url=job.deployment.environment_url,
        environment=job.deployment.environment,
    )


def finish(job: Job) -> None:
    """Publish a stored verdict: check run, deployment status, the decision's hook, the state.

    Safe to run again for the same verdict (a repeated step): every part is done once.
    """
    with job.transaction() as session:
        results = records.stored_results(session, job.id)
    engine = records.restore_engine(job.row, results)
    verdict = engine.verdict
    assert verdict is not None, f"verification {job.id} has a stored verdict the results lack"
    policy = pinned_policy(job.github, job.repo, job.row.policy_sha or job.deployment.sha)
    environment = policy.environments[job.deployment.environment]
    mode = policy.effective_mode(job.deployment.environment)
    decision = decide(
        verdict,
        environment.on_failure,
        mode=mode,
        is_remedy_verification=job.deployment.is_remedy,
    )
    job.hold()
    output = render.finished(
        job.subject, verdict, decision, check_rows(engine.results), run_url=job.run_url
    )
    show(job, output)
    name = render.check_run_name(job.deployment.environment)
    if job.ctx.check_runs:
        with job.transaction() as session:
            records.note_once(
                session,
                "check_run_completed",
                CHECK_RUN_COMPLETED.format(name=name, conclusion=output.conclusion),
                at=job.moment(),
                verification_id=job.id,
            )
    if verdict.kind is VerdictKind.FAIL:
        if mode == "shadow":
            message = STATUS_SKIPPED_SHADOW.format(deployment=job.deployment.github_id)
        else:
            _mark_deployment_failed(job, render.status_description(verdict))
            link = f" (log: {job.run_url})" if job.run_url else ""
            message = STATUS_POSTED.format(deployment=job.deployment.github_id, link=link)
        with job.transaction() as session:
            records.note_once(
                session, "deployment_status", message, at=job.moment(), verification_id=job.id
            )
    if not on_verdict(job, verdict, decision, environment.on_failure, engine.results):
        # A remedy is still under way elsewhere: the verification stays open, and the
        # reconciler brings it back here until the remedy has ended.
        job.log.info("verification.remedy_pending")
        return
    severity = f" ({verdict.severity.value})" if verdict.severity else ""
    with job.transaction() as session:
        concluded = records.conclude(session, job.id, VerificationState.FINISHED, job.moment())
        if concluded:
            records.note(
                session,
                "verification_finished",
                FINISHED.format(verdict=verdict.kind.value.upper(), severity=severity),
                at=job.moment(),
                verification_id=job.id,
            )
    if concluded:
        count_verification(verdict.kind.value)
        job.log.info("verification.finished", verdict=verdict.kind.value, severity=severity)


def conclude_superseded(job: Job) -> None:
    """Stop a verification a newer deployment replaced: neutral check run, final state."""
    assert job.deployment.superseded_by_id is not None
    with job.transaction() as session:
        newer = session.get_one(Deployment, job.deployment.superseded_by_id)
        newer_id = newer.github_id
    if job.row.check_run_id is not None:
        show(
            job,
            render.superseded(
                job.subject,
                newer_deployment_id=newer_id,
                rounds_done=job.row.rounds_done,
                rounds_planned=job.row.rounds_planned,
            ),
        )
    message = SUPERSEDED.format(
        newer=newer_id, done=job.row.rounds_done, planned=job.row.rounds_planned
    )
    with job.transaction() as session:
        concluded = records.conclude(session, job.id, VerificationState.SUPERSEDED, job.moment())
        if concluded:
            records.note(session, "superseded", message, at=job.moment(), verification_id=job.id)
    if concluded:
        count_verification("superseded")
        job.log.info("verification.superseded", newer=newer_id)


def give_up(job: Job, count: int, error: str) -> None:
    """Too many failed attempts: say so on the check run (if GitHub answers) and stop."""
    if job.row.check_run_id is not None:
        try:
            show(job, render.gave_up(job.subject, failures=count, error=error))
        except GitHubError as github_error:
            job.log.warning("check_run.not_updated", error=str(github_error))
    with job.transaction() as session:
        concluded = records.conclude(session, job.id, VerificationState.ERROR, job.moment())
        if concluded:
            records.note(
                session,
                "gave_up",
                GAVE_UP.format(count=count, error=error),
                at=job.moment(),
                verification_id=job.id,
            )
    if concluded:
        count_verification("error")
        job.log.error("verification.gave_up", attempts=count, error=error)
