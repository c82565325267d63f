"""The one place a verdict turns into action: known-bad commit, remedy, incident, their comments.

It may run more than once for one verification (a step killed and repeated, a second replica),
so each part happens once: the known-bad row, the remedy and the incident are claimed in the
store (UNIQUE rows that hold across replicas), the issue is found again by its marker, and
each comment is claimed in the store before it is posted.

Order: the remedy first, then the incident. Restoring the service is what shortens the
outage; a redeploy or revert is a few API calls, while filing (labels, CODEOWNERS, suspects,
comments on suspect pull requests, GitHub's second between writes) takes longer. The check
run and the deployment's `failure` status already told people before this runs, and the issue
then says what was done in its first version. Only when the remedy is still running
elsewhere (a replica, or an attempt that died) is the issue filed first, with a comment
when the remedy ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from guard.jobs import records
from guard.jobs.incident_context import Judged
from guard.jobs.incident_step import report_failure
from guard.jobs.job import Job
from guard.jobs.remedy_step import remedy_view, run_remedy
from guard.jobs.rollback_verdict import report_rollback_verdict
from guard.outcomes import ProbeResult, Verdict, VerdictKind
from guard.policy.models import OnFailure
from guard.remedies import RemedyOutcome
from guard.severity import Action, Decision
from guard.store import record_known_bad

DECISION = "Decision: {explanation}"
KNOWN_BAD = (
    "Commit {sha} is recorded as known-bad: the gate refuses to deploy it again until someone "
    "comments `/guard allow {sha}`."
)


def on_verdict(
    job: Job,
    verdict: Verdict,
    decision: Decision,
    on_failure: OnFailure,
    results: Sequence[ProbeResult],
) -> bool:
    """Act on a stored verdict; True when everything it calls for is done, False when a part
    is still under way elsewhere (the reconciler brings the verification back)."""
    with job.transaction() as session:
        records.note_once(
            session,
            "decision",
            DECISION.format(explanation=decision.explanation),
            at=job.moment(),
            verification_id=job.id,
        )
    job.log.info(
        "verification.decided",
        verdict=verdict.kind.value,
        action=decision.action.value,
        shadow=decision.shadow,
    )
    at = job.row.verdict_at or records.moment(verdict.decided_at)
    judged = Judged(verdict, decision, results, at)
    if job.deployment.is_remedy:
        # A rollback's own deployment: its verdict goes to the original incident, and it is
        # never rolled back itself.
        return report_rollback_verdict(job, judged, on_failure)
    if verdict.kind is VerdictKind.FAIL:
        _known_bad(job, verdict)
    if not decision.files_incident:
        return True
    outcome: RemedyOutcome | None = None
    if decision.action is Action.ROLLBACK:
        outcome = run_remedy(job, verdict, decision, on_failure)
    return report_failure(job, judged, on_failure, remedy_view(job, outcome))


def _known_bad(job: Job, verdict: Verdict) -> None:
    reason = verdict.reasons[0].message if verdict.reasons else None
    with job.transaction() as session:
        recorded = record_known_bad(
            session,
            repository=job.repo,
            sha=job.deployment.sha,
            deployment_id=job.deployment.id,
            reason=reason,
            now=job.moment(),
        )
        if recorded:
            records.note(
                session,
                "known_bad",
                KNOWN_BAD.format(sha=job.deployment.sha[:7]),
                at=job.moment(),
                verification_id=job.id,
            )
