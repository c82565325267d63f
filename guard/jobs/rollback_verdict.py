"""The verdict on a rollback's own deployment, told on the original incident; never remedied.

Passed: "service restored", with the time to detect (the failed deployment's creation to its
failing verdict) and the time to restore (to this verdict). Failed: escalated to P0, a person
must act (the comment, the stored severity, the issue's `severity:` label and its title); the
guard never rolls back a rollback. When the original deployment has no incident (a rollback a
person asked for), a failed rollback gets an escalated incident of its own.

A verdict reached before the original issue exists is told by the step that files it
(`tell_stored_rollback_verdicts`), the rollback's own step being the safety net. Which
deployment is a rollback comes from our records only (`recognise_merged_revert` binds the
deployment of a merged revert pull request), never from a deployment's payload.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import sqlalchemy as sa

from guard.github.errors import GitHubError
from guard.incidents.context import RemedyReport
from guard.incidents.labels import SEVERITY_COLOURS, retitled, severity_label
from guard.incidents.updates import UpdateDetails, UpdateKind
from guard.jobs import records
from guard.jobs.incident_context import Judged, incident_context
from guard.jobs.incident_step import claim_filing, filer_for, severity_of, store_issue
from guard.jobs.job import Job
from guard.jobs.records import OPEN_STATES
from guard.jobs.remedy_step import NO_REMEDY
from guard.outcomes import Severity, VerdictKind
from guard.policy.models import OnFailure
from guard.remedies.revert_pr import bind_merged_revert, ships_revert, waiting_reverts
from guard.severity import decide
from guard.store import Deployment, Incident, Verification

RESTORED = (
    "The rollback's deployment {id} ({sha}) to {environment} passed its verification: the "
    "service is restored."
)
INCONCLUSIVE = (
    "The rollback's deployment {id} ({sha}) to {environment} could not be judged: its "
    "verification was inconclusive. Check the service by hand."
)
RESTORED_KEY = "service_restored"
ESCALATED_KEY = "remedy_verification_failed"
INCONCLUSIVE_KEY = "remedy_verification_inconclusive"
SEVERITY_PREFIX = "severity:"


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return max(0.0, (end - start).total_seconds()) if end is not None else None


def _original(job: Job) -> tuple[Deployment, Incident | None, datetime | None] | None:
    """The deployment this one rolls back, its incident, and when its failure was detected."""
    remedied = job.deployment.remedied_deployment_id
    if remedied is None:
        return None
    with job.transaction() as session:
        original = session.get(Deployment, remedied)
        if original is None:
            return None
        incident = session.scalars(
            sa.select(Incident)
            .where(Incident.deployment_id == original.id)
            .execution_options(populate_existing=True)
        ).first()
        detected = session.scalar(
            sa.select(Verification.verdict_at)
            .where(
                Verification.deployment_id == original.id,
                Verification.verdict == VerdictKind.FAIL,
            )
            .order_by(Verification.attempt.desc())
            .limit(1)
        )
    return original, incident, detected


def report_rollback_verdict(job: Job, judged: Judged, on_failure: OnFailure) -> bool:
    """Tell the original incident how its rollback's verification ended; True when told."""
    found = _original(job)
    failed = judged.verdict.kind is VerdictKind.FAIL
    incident = found[1] if found is not None else None
    if found is None or incident is None:
        return _own_incident(job, judged, on_failure) if failed else True
    original, _, detected = found
    number = incident.issue_number
    if number is None:
        if job.moment() - incident.updated_at >= timedelta(
            seconds=job.ctx.options.takeover_after_s
        ):
            # Its filing was abandoned: there is no issue to tell, and waiting will not make one.
            job.log.warning("rollback_verdict.no_issue_to_tell", incident=incident.code)
            return True
        # Its incident is still being filed: the reconciler brings this verdict back.
        job.log.info("rollback_verdict.incident_not_filed_yet", incident=incident.code)
        return False
    deployment = job.deployment
    words = {
        "id": deployment.github_id,
        "sha": deployment.sha[:7],
        "environment": deployment.environment,
    }
    details = UpdateDetails(
        at=judged.at,
        target_ref=deployment.ref,
        link=job.run_url,
        time_to_detect_s=_seconds(original.created_at, detected),
        time_to_restore_s=_seconds(original.created_at, judged.at),
        code=incident.code,
    )
    filer = filer_for(job, on_failure)
    if judged.verdict.kind is VerdictKind.PASS:
        text = RESTORED.format(**words)
        filer.add_update(
            number, UpdateKind.SERVICE_RESTORED, text, details=details, key=RESTORED_KEY
        )
    elif failed:
        reasons = "; ".join(reason.message for reason in judged.verdict.reasons)
        text = reasons or judged.decision.explanation
        filer.add_update(
            number,
            UpdateKind.REMEDY_VERIFICATION_FAILED,
            text,
            details=details,
            key=ESCALATED_KEY,
        )
        _escalate(job, incident.id)
        relabel_escalated(job, number)
    else:
        filer.add_update(
            number,
            UpdateKind.NOTE,
            INCONCLUSIVE.format(**words),
            details=details,
            key=INCONCLUSIVE_KEY,
        )
    job.log.info("rollback_verdict.told", verdict=judged.verdict.kind.value, incident=incident.code)
    return True


def _escalate(job: Job, incident_id: int) -> None:
    with job.transaction() as session:
        session.execute(
            sa.update(Incident)
            .where(Incident.id == incident_id)
            .values(severity=Severity.P0, updated_at=job.moment())
            .execution_options(synchronize_session=False)
        )


def tell_stored_rollback_verdicts(job: Job, on_failure: OnFailure) -> None:
    """Tell the incident of `job`'s deployment, just filed, the verdicts its rollbacks reached
    while it was being filed: "service restored" comes now, not a reconciler period later.

    The rollback's own step tells the same verdict when it comes back; the comment is
    claimed per issue and key (`StoreLedger`), so whichever comes first posts it, once.
    """
    with job.transaction() as session:
        waiting = session.execute(
            sa.select(Verification, Deployment)
            .join(Deployment, Deployment.id == Verification.deployment_id)
            .where(
                Deployment.remedied_deployment_id == job.deployment.id,
                Deployment.is_remedy.is_(True),
                Verification.verdict.is_not(None),
                Verification.state.in_(OPEN_STATES),
            )
            .order_by(Verification.id)
        ).all()
        stored = [
            (row, deployment, records.stored_results(session, row.id))
            for row, deployment in waiting
        ]
    for row, deployment, results in stored:
        verdict = records.restore_engine(row, results).verdict
        if verdict is None or row.verdict_at is None:
            continue
        decision = decide(verdict, on_failure, mode="enforce", is_remedy_verification=True)
        rollback = Job(job.ctx, job.github, row, deployment, job.owner)
        judged = Judged(verdict, decision, results, row.verdict_at)
        report_rollback_verdict(rollback, judged, on_failure)


def tell_rollback_verdicts_now(job: Job, on_failure: OnFailure) -> None:
    """`tell_stored_rollback_verdicts` as a courtesy: when GitHub fails it here, the
    rollback's own step (brought back by the reconciler) tells the verdict instead."""
    try:
        tell_stored_rollback_verdicts(job, on_failure)
    except GitHubError as error:
        job.log.warning("rollback_verdict.not_told_early", error=str(error))


def relabel_escalated(job: Job, number: int) -> None:
    """The issue follows the escalation: `severity:P0` in place of the old label, other labels
    kept, and P0 in its title in place of the old severity ("[P1] ..." becomes "[P0] ..."),
    in the same write. Setting the same labels and title again changes nothing, so a
    repeated step may do it again."""
    label = severity_label(Severity.P0)
    job.github.ensure_labels(job.repo, {label: SEVERITY_COLOURS[Severity.P0]})
    job.github.swap_issue_label(
        job.repo, number, SEVERITY_PREFIX, label, retitle=partial(retitled, severity=Severity.P0)
    )


def recognise_merged_revert(job: Job) -> bool:
    """Whether this deployment is the guard's rollback, binding it first when it ships the
    merged revert of a `revert_pr` remedy (see `ships_revert`).

    Only our own records decide (the revert commit we pushed, the pull request we opened) and
    GitHub's answers on that pull request and on the deployed commit; never the deployment's
    payload. GitHub is asked only while a revert pull request of the environment awaits its
    deployment: one call while it is unmerged, two once merged.
    """
    if job.deployment.is_remedy:
        return True
    # A read: it takes no write lock (binding one, below, writes and checks again).
    with job.reading() as session:
        waiting = waiting_reverts(session, job.deployment)
    for revert in waiting:
        if not ships_revert(job.github, job.repo, revert, job.deployment.sha):
            continue
        with job.transaction() as session:
            bound = bind_merged_revert(session, revert.remedy_id, job.deployment.id)
        job.reload()
        if bound:
            job.log.info("rollback.merged_revert_recognised", remedy=revert.remedy_id)
        return job.deployment.is_remedy
    return False


def _own_incident(job: Job, judged: Judged, on_failure: OnFailure) -> bool:
    """A failed rollback whose original has no incident to tell: its own, escalated, once."""
    claimed = claim_filing(job, severity_of(judged), NO_REMEDY)
    if claimed is None:
        return False
    if claimed.issue_number is not None:
        return True
    original = job.deployment.remedied_deployment_id
    rollback_of = None
    if original is not None:
        with job.transaction() as session:
            row = session.get(Deployment, original)
            rollback_of = row.github_id if row is not None else None
    context = incident_context(
        job,
        judged,
        code=claimed.code,
        report=RemedyReport.escalated(job.run_url),
        good=None,
        rollback_of=rollback_of,
    )
    filed = filer_for(job, on_failure).file(context)
    store_issue(job, claimed.id, filed.issue.number, filed.issue.html_url)
    job.log.info("incident.stored", issue=filed.issue.number, code=claimed.code, escalated=True)
    return True
