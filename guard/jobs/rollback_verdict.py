"""The verdict on a rollback's own deployment, told on the original incident; never remedied.

Passed: "service restored", with the time to detect (the failed deployment's creation to its
failing verdict) and the time to restore (to this verdict). Failed: escalated to P0, a person
must act; the guard never rolls back a rollback. When the original deployment has no incident
(a rollback a person asked for), a failed rollback gets an escalated incident of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from guard.incidents.context import RemedyReport
from guard.incidents.updates import UpdateDetails, UpdateKind
from guard.jobs.incident_context import Judged, incident_context
from guard.jobs.incident_step import claim_filing, filer_for, severity_of, store_issue
from guard.jobs.job import Job
from guard.jobs.remedy_step import NO_REMEDY
from guard.outcomes import Severity, VerdictKind
from guard.policy.models import OnFailure
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
