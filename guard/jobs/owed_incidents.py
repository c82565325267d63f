"""Incidents still owed when a verification gave up after its FAIL verdict: filed anyway, once.

A verdict's hook (`on_verdict`) may fail until the verification gives up: GitHub refusing the
issue, say, after the remedy already ran. Nothing may then be left untold. The owed incident
is durable without a table of its own: a verification in `error` with a FAIL verdict whose
decision files an incident, and whose deployment's incident has no issue yet (or still owes
the comment on how its remedy ended). The give-up files it at once; when that fails too, the
reconciler calls `file_owed_incidents` every period until it is filed. The failed deployment's
`failure` status, which a step posts after the issue, is posted with it if it never was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.incidents.updates import UpdateDetails, UpdateKind
from guard.jobs import records
from guard.jobs.context import JobContext
from guard.jobs.incident_context import Judged
from guard.jobs.incident_step import filer_for, report_failure
from guard.jobs.job import Job, claim, lease_owner, log, release
from guard.jobs.policy_source import pinned_policy
from guard.jobs.remedy_step import PENDING, remedy_view
from guard.jobs.rollback_verdict import tell_rollback_verdicts_now
from guard.outcomes import Verdict, VerdictKind
from guard.remedies import statuses
from guard.remedies.models import FailedStatus
from guard.report import check_run as render
from guard.severity import decide
from guard.store import Deployment, Incident, TimelineEvent, Verification, VerificationState
from guard.store.aliases import OTHER_VERIFICATION

GAVE_UP_KEY = "verification_gave_up"
GAVE_UP_TEXT = (
    "The guard stopped working on this deployment's verification after its verdict: {why} "
    "This issue was filed afterwards, so that what the guard did is told."
)
UNKNOWN_WHY = "its steps kept failing."
# Each reconciler pass files at most this many: it runs on the supervisor thread, and when
# GitHub is down every attempt waits on its retries.
PER_PASS = 3


def owed(session: Session, now: datetime | None = None) -> list[int]:
    """The verifications that gave up after a FAIL verdict and still owe their incident
    (only those whose lease is free at `now`, when given: a failed try holds it a while)."""
    later_attempt = OTHER_VERIFICATION
    told = sa.select(Incident.deployment_id).where(
        Incident.issue_number.is_not(None),
        sa.or_(Incident.remedy_told.is_(None), Incident.remedy_told != PENDING),
    )
    rows = session.scalars(
        sa.select(Verification)
        .join(Deployment, Deployment.id == Verification.deployment_id)
        .where(
            Verification.state == VerificationState.ERROR,
            Verification.verdict == VerdictKind.FAIL,
            # A rollback's own verdict belongs to the original incident, not a new one.
            Deployment.is_remedy.is_(False),
            Deployment.id.not_in(told),
            ~sa.exists().where(
                later_attempt.deployment_id == Verification.deployment_id,
                later_attempt.attempt > Verification.attempt,
            ),
        )
        .where(
            sa.true()
            if now is None
            else sa.or_(Verification.lease_owner.is_(None), Verification.lease_expires_at < now)
        )
        .order_by(Verification.id)
    ).all()
    return [row.id for row in rows if (row.decision or {}).get("files_incident")]


def _why(job: Job) -> str:
    """What the give-up note on the run page says: the attempts and the last error."""
    with job.transaction() as session:
        note = session.scalar(
            sa.select(TimelineEvent.message)
            .where(TimelineEvent.verification_id == job.id, TimelineEvent.kind == "gave_up")
            .order_by(TimelineEvent.id.desc())
            .limit(1)
        )
    return f"{note.rstrip('.')}." if note else UNKNOWN_WHY


def _abandon_unfiled_claim(job: Job) -> None:
    """The incident claimed by this verification's failed steps, never filed, is free now.

    Only this verification's steps file its deployment's incident, and this one holds the
    verification's lease after it ended: no step of it runs any more. Dating the claim back
    lets `report_failure` take it over at once instead of after `takeover_after_s`.
    """
    abandoned = job.moment() - timedelta(seconds=job.ctx.options.takeover_after_s + 1)
    with job.transaction() as session:
        session.execute(
            sa.update(Incident)
            .where(Incident.deployment_id == job.deployment.id, Incident.issue_number.is_(None))
            .values(updated_at=abandoned)
            .execution_options(synchronize_session=False)
        )


def file_owed_incident(job: Job) -> bool:
    """File the incident of a verification that gave up after its FAIL verdict, with a note
    saying so; True when nothing is owed any more. Safe to repeat: each part is once."""
    if job.row.verdict is not VerdictKind.FAIL or job.row.verdict_at is None:
        return True
    policy = pinned_policy(job.github, job.repo, job.row.policy_sha or job.deployment.sha)
    environment = policy.environments[job.deployment.environment]
    with job.transaction() as session:
        results = records.stored_results(session, job.id)
    verdict = records.restore_engine(job.row, results).verdict
    if verdict is None:
        return True
    mode = policy.effective_mode(job.deployment.environment)
    decision = decide(verdict, environment.on_failure, mode=mode)
    if not decision.files_incident:
        return True
    _abandon_unfiled_claim(job)
    judged = Judged(verdict, decision, results, job.row.verdict_at)
    # The remedy is never run from here: only told as its row has it.
    done = report_failure(job, judged, environment.on_failure, remedy_view(job, None))
    with job.transaction() as session:
        number = session.scalar(
            sa.select(Incident.issue_number).where(Incident.deployment_id == job.deployment.id)
        )
    if number is not None:
        _mark_failed_once(job, verdict)
        filer_for(job, environment.on_failure).add_update(
            number,
            UpdateKind.NOTE,
            GAVE_UP_TEXT.format(why=_why(job)),
            details=UpdateDetails(at=job.moment(), link=job.run_url),
            key=GAVE_UP_KEY,
        )
        if done:
            tell_rollback_verdicts_now(job, environment.on_failure)
    job.log.info("incident.owed_filed", issue=number, remedy_told=done)
    return done and number is not None


def _mark_failed_once(job: Job, verdict: Verdict) -> None:
    """The failed deployment's one `failure` status, when no step posted it before the give-up
    (the issue was refused first, and the status comes after it).

    The timeline's `deployment_status` note says it was posted. Without it GitHub's statuses
    are read: a `failure` there (posted by a step that then failed before its note) is the one.
    """
    with job.transaction() as session:
        told = session.scalar(
            sa.select(TimelineEvent.id)
            .where(
                TimelineEvent.verification_id == job.id, TimelineEvent.kind == statuses.POSTED_KIND
            )
            .limit(1)
        )
    if told is not None:
        return
    deployment_id = job.deployment.github_id
    posted = job.github.list_deployment_statuses(job.repo, deployment_id)
    if not any(status.state == "failure" for status in posted):
        statuses.post_failed(
            job.github,
            job.repo,
            deployment_id,
            FailedStatus(render.status_description(verdict), job.run_url),
            look_first=False,
            environment_url=job.deployment.environment_url,
            environment=job.deployment.environment,
        )
    link = f" (log: {job.run_url})" if job.run_url else ""
    with job.transaction() as session:
        records.note_once(
            session,
            statuses.POSTED_KIND,
            statuses.POSTED.format(deployment=deployment_id, link=link),
            at=job.moment(),
            verification_id=job.id,
        )


def file_after_giving_up(job: Job) -> None:
    """At the give-up itself: file what is owed now; a failure leaves it to the reconciler."""
    try:
        file_owed_incident(job)
    except Exception:
        # Still owed, and durably so (`owed`): the reconciler comes back to it.
        job.log.exception("incident.owed_not_filed")


def file_owed_incidents(ctx: JobContext, limit: int = PER_PASS) -> int:
    """The reconciler's part: file up to `limit` owed incidents; how many were settled.

    A try that fails keeps the verification's lease for two reconciler periods: the next
    passes turn to the other owed incidents, so one that cannot be filed blocks none.
    """
    with ctx.sessions.begin() as session:
        waiting = owed(session, records.moment(ctx.clock()))
    settled = 0
    for verification_id in waiting[:limit]:
        owner = lease_owner()
        if not claim(ctx, verification_id, owner, ctx.options.remedy_s):
            continue
        backoff_s: float | None = None
        try:
            with ctx.sessions.begin() as session:
                loaded = records.load(session, verification_id)
            if loaded is None:
                continue
            row, deployment = loaded
            github = ctx.github(deployment.installation_id)
            try:
                settled += file_owed_incident(Job(ctx, github, row, deployment, owner))
            finally:
                github.close()
        except Exception:
            log.exception("incident.owed_not_filed", verification=verification_id)
            backoff_s = 2 * ctx.options.reconcile_every_s
        finally:
            if backoff_s is None:
                release(ctx, verification_id, owner)
            else:
                claim(ctx, verification_id, owner, backoff_s)
    return settled
