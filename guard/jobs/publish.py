"""What a verification shows on GitHub: its check run as it goes, and the verdict at the end.

GitHub is told first and the database second: a step that dies in between is repeated,
and each GitHub write here is either idempotent (a PATCH of the check run) or, when our
records show an earlier attempt, looked up before it is made (the check run by its external
id, the deployment's statuses). A first attempt asks GitHub nothing it does not need.
"""

from __future__ import annotations

from guard.github.errors import GitHubError
from guard.github.models import CheckStatus
from guard.jobs import records
from guard.jobs.job import Job
from guard.jobs.owed_incidents import file_after_giving_up
from guard.jobs.policy_source import pinned_policy
from guard.jobs.verdicts import act, acts_first, complete, judged_of, note_decision, on_verdict
from guard.observability.metrics import count_verification
from guard.outcomes import Verdict, VerdictKind
from guard.remedies import OutcomeKind, RemedyOutcome, statuses
from guard.remedies.models import FailedStatus
from guard.report import check_run as render
from guard.report.checks import check_rows
from guard.severity import decide
from guard.store import Deployment, VerificationState
from guard.verification import Verification as Engine

CHECK_RUN_CREATED = "Check run {name} started on {sha}."
EXTERNAL_ID = "deploy-guard:{deployment}:{verification}"
CHECK_RUNS_NEED_AN_APP = (
    "No check run: GitHub lets only a GitHub App create check runs, and the guard "
    "authenticates with a token (GUARD_GITHUB_TOKEN). The verdict is on the run page."
)
CHECK_RUN_COMPLETED = "Check run {name} completed: {conclusion}."
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
# An earlier remedy in these states has posted what it posts on the failed deployment.
FINISHED_REMEDY_STATES = frozenset({"done", "failed", "skipped"})


def external_id(job: Job) -> str:
    """What the check run carries to be found again: the deployment and this verification."""
    return EXTERNAL_ID.format(deployment=job.deployment.github_id, verification=job.id)


def create_check_run(job: Job, output: render.CheckRunOutput) -> int:
    """Create the verification's one check run and store its id before anything else.

    The timeline notes it before the POST: a step killed between GitHub's answer and the
    database write is repeated, finds the note, and looks for the run it made by its external
    id, showing `output` on that one instead of making another. A first attempt, which the
    missing note shows, has nothing to find and makes no look-up.
    """
    name = render.check_run_name(job.deployment.environment)
    key = external_id(job)
    # Held from the look-up to the stored id: a twin step would make a second run meanwhile.
    job.hold()
    status: CheckStatus = "completed" if output.conclusion else "in_progress"
    with job.transaction() as session:
        first = records.note_once(
            session,
            "check_run_created",
            CHECK_RUN_CREATED.format(name=name, sha=job.deployment.sha[:7]),
            at=job.moment(),
            verification_id=job.id,
        )
    created = None if first else job.github.find_check_run(job.repo, job.deployment.sha, name, key)
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
    """Create the check run if the verification has none, but not before its smoke checks.

    A failing smoke check gives the verdict in the same step, and its remedy and incident
    are to be the first writes after it: GitHub's second between writes would otherwise hold
    them behind the check run. So the smoke step makes the run afterwards, with the smoke
    results (`show_progress`) or with the verdict itself (`finish`).
    """
    if has_smoke and job.row.smoke_recorded_at is None:
        return
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


def _conclude_check_run(job: Job, output: render.CheckRunOutput) -> None:
    """The check run's final output: a PATCH (the same twice leaves the same run), or the
    run's creation when the smoke step gave the verdict."""
    show(job, output)
    if job.ctx.check_runs:
        name = render.check_run_name(job.deployment.environment)
        with job.transaction() as session:
            records.note_once(
                session,
                "check_run_completed",
                CHECK_RUN_COMPLETED.format(name=name, conclusion=output.conclusion),
                at=job.moment(),
                verification_id=job.id,
            )


def _conclude_check_run_quietly(job: Job, output: render.CheckRunOutput) -> None:
    try:
        _conclude_check_run(job, output)
    except GitHubError as error:
        job.log.warning("check_run.not_concluded", error=str(error))


def _mark_deployment_failed(
    job: Job, verdict: Verdict, outcome: RemedyOutcome | None, *, first: bool
) -> bool:
    """The failed deployment's one `failure` status: the remedy's (the reason and what was
    done, then `inactive` after a redeploy) when this call's remedy left it, else the verdict's.

    A status cannot be taken back: a repeated step (not `first`) reads the statuses first. A
    remedy an earlier call or another process carried out posted its own, so then the
    verdict's is posted only when no `failure` is there at all; while that remedy still runs,
    nothing is posted yet (the reconciler brings the verification back): False.
    """
    deployment_id = job.deployment.github_id
    if outcome is not None and outcome.kind is OutcomeKind.TAKEN:
        if outcome.state not in FINISHED_REMEDY_STATES:
            return False
        posted = job.github.list_deployment_statuses(job.repo, deployment_id)
        if any(status.state == "failure" for status in posted):
            return True
        first = True  # just looked: nothing to find again
    status = outcome.status if outcome is not None else None
    statuses.post_failed(
        job.github,
        job.repo,
        deployment_id,
        status or FailedStatus(render.status_description(verdict), job.run_url),
        look_first=not first,
        environment_url=job.deployment.environment_url,
        environment=job.deployment.environment,
    )
    return True


def _tell_deployment_failed(
    job: Job, verdict: Verdict, mode: str, outcome: RemedyOutcome | None, *, first: bool
) -> None:
    if mode == "shadow":
        message = STATUS_SKIPPED_SHADOW.format(deployment=job.deployment.github_id)
    elif not _mark_deployment_failed(job, verdict, outcome, first=first):
        return
    else:
        link = f" (log: {job.run_url})" if job.run_url else ""
        message = statuses.POSTED.format(deployment=job.deployment.github_id, link=link)
    with job.transaction() as session:
        records.note_once(
            session, statuses.POSTED_KIND, message, at=job.moment(), verification_id=job.id
        )


def finish(job: Job) -> None:
    """Publish a stored verdict: remedy and incident, check run, deployment status, the state.

    GitHub wants a second between writes, so the order of the writes is the order in which
    people see them. A verdict that files an incident acts first (`verdicts.act`): the
    remedy's first write, then the issue. The check run's conclusion and the failed
    deployment's `failure` status come next, then what can wait (`verdicts.complete`). Any
    other verdict is shown on the check run first, then acted on.

    Safe to run again for the same verdict (a repeated step): every part is done once. The
    decision is noted before the first write, so a repeated step knows it is one and looks
    on GitHub before posting what cannot be taken back.
    """
    with job.reading() as session:
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
    first = note_decision(job, verdict, decision)
    output = render.finished(
        job.subject, verdict, decision, check_rows(engine.results), run_url=job.run_url
    )
    failed = verdict.kind is VerdictKind.FAIL
    if acts_first(job, decision):
        judged = judged_of(job, verdict, decision, engine.results)
        try:
            acted = act(job, judged, environment.on_failure)
        except Exception:
            # The verdict is not kept from people while GitHub refuses the remedy or the
            # issue: the check run shows it, then the step fails and is repeated.
            _conclude_check_run_quietly(job, output)
            raise
        _conclude_check_run(job, output)
        if failed:
            _tell_deployment_failed(job, verdict, mode, acted.outcome, first=first)
        done = complete(job, acted, environment.on_failure)
    else:
        _conclude_check_run(job, output)
        if failed:
            _tell_deployment_failed(job, verdict, mode, None, first=first)
        done = on_verdict(job, verdict, decision, environment.on_failure, engine.results)
    if not done:
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
    file_after_giving_up(job)
