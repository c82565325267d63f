"""The one place a verdict turns into action: known-bad commit, remedy, incident, their comments.

It may run more than once for one verification (a step killed and repeated, a second replica),
so each part happens once: the decision is noted before anything is written to GitHub (so a
repeated step knows it is one), the known-bad row, the remedy and the incident are claimed in
the store (UNIQUE rows that hold across replicas), the issue is found again by its marker on
a repeat, and each comment is claimed in the store before it is posted.

Order: GitHub asks for a second between writes, so each write waits behind the ones before
it, and the order decides how soon people see what matters. After a failing verdict the
remedy's first write (the rollback's deployment, commit or pull request) goes first:
restoring the service is what shortens the outage. The incident issue is second, filed with
only reads before it (suspects, template, CODEOWNERS), saying what was done. Everything else
follows (`complete`, after `publish.finish` concluded the check run and posted the failed
deployment's one `failure` status): label colours, comments on suspect pull requests, chat.
Only when the remedy is still running elsewhere (a replica, or an attempt that died) is the
issue filed without its outcome, with a comment when the remedy ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guard.jobs import records
from guard.jobs.incident_context import Judged
from guard.jobs.incident_step import Filing, file_incident, finish_incident
from guard.jobs.job import Job
from guard.jobs.remedy_step import RemedyView, remedy_view, run_remedy
from guard.jobs.rollback_verdict import report_rollback_verdict, tell_rollback_verdicts_now
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


def note_decision(job: Job, verdict: Verdict, decision: Decision) -> bool:
    """Note the decision, before anything is published; True when this call noted it, i.e.
    no earlier attempt of publishing this verdict wrote anything to GitHub."""
    with job.transaction() as session:
        first = records.note_once(
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
        repeated=not first,
    )
    return first


def judged_of(
    job: Job, verdict: Verdict, decision: Decision, results: Sequence[ProbeResult]
) -> Judged:
    at = job.row.verdict_at or records.moment(verdict.decided_at)
    return Judged(verdict, decision, results, at)


def acts_first(job: Job, decision: Decision) -> bool:
    """Whether the verdict calls for the remedy and the incident, before anything else."""
    return decision.files_incident and not job.deployment.is_remedy


@dataclass(frozen=True)
class Acted:
    """What `act` did: the remedy as it ended here, and the incident filed so far."""

    outcome: RemedyOutcome | None
    view: RemedyView
    filing: Filing | None


def act(job: Job, judged: Judged, on_failure: OnFailure) -> Acted:
    """The urgent writes of a verdict that files an incident: the remedy, then the issue."""
    verdict, decision = judged.verdict, judged.decision
    if verdict.kind is VerdictKind.FAIL:
        _known_bad(job, verdict)
    outcome: RemedyOutcome | None = None
    if decision.action is Action.ROLLBACK:
        outcome = run_remedy(job, verdict, decision, on_failure)
    view = remedy_view(job, outcome)
    return Acted(outcome, view, file_incident(job, judged, on_failure, view))


def complete(job: Job, acted: Acted, on_failure: OnFailure) -> bool:
    """What follows the issue; True when everything is done, False when a part is still
    under way elsewhere (the reconciler brings the verification back)."""
    told = finish_incident(job, acted.filing)
    if told:
        tell_rollback_verdicts_now(job, on_failure)
    return told


def on_verdict(
    job: Job,
    verdict: Verdict,
    decision: Decision,
    on_failure: OnFailure,
    results: Sequence[ProbeResult],
) -> bool:
    """Act on a stored verdict in one go (`publish.finish` splits it with `act` and
    `complete` when `acts_first`); True when everything it calls for is done."""
    judged = judged_of(job, verdict, decision, results)
    if job.deployment.is_remedy:
        # A rollback's own deployment: its verdict goes to the original incident, and it is
        # never rolled back itself.
        return report_rollback_verdict(job, judged, on_failure)
    if decision.files_incident:
        return complete(job, act(job, judged, on_failure), on_failure)
    if verdict.kind is VerdictKind.FAIL:
        _known_bad(job, verdict)
    return True


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
