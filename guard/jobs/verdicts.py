"""The one place a verdict turns into action: today it records the decision, nothing more.

Remedies (rollback) and incidents hook in here. Whatever is added must stay safe to run
twice for one verification (a step killed after it is repeated): claim the remedy and the
incident with `guard.store.claim_remedy` / `claim_incident`, which hold across replicas.
"""

from __future__ import annotations

from guard.jobs import records
from guard.jobs.job import Job
from guard.outcomes import Verdict
from guard.severity import Decision

DECISION = "Decision: {explanation}"


def on_verdict(job: Job, verdict: Verdict, decision: Decision) -> None:
    """Act on a verdict. Now: note the decision on the run's timeline (once)."""
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
