"""The one incident issue of a failed deployment: claimed across replicas, filed, then commented.

`claim_incident` (UNIQUE per deployment) picks the replica that files; the filer finds an issue
an interrupted attempt filed by its marker (only then: a fresh claim means there is none); the
issue's number is stored on the Incident row. `file_incident` makes only the issue, the first
write people need after the remedy's; `finish_incident` does what follows it.
A claim whose filer died is taken over once it made no progress for `takeover_after_s`.
Later events are comments, each once (`StoreLedger`): the remedy's end when the issue was
filed while it still ran, and the verdict on the rollback's own deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult

from guard.incidents.context import IncidentContext
from guard.incidents.filer import FiledIncident, IncidentFiler
from guard.incidents.ledger import StoreLedger
from guard.incidents.updates import UpdateDetails, UpdateKind
from guard.jobs.incident_context import (
    Judged,
    incident_context,
    last_good_of,
    web_url,
)
from guard.jobs.job import Job
from guard.jobs.remedy_step import DONE, FAILED, PENDING, RemedyView, report_of
from guard.outcomes import Severity
from guard.policy.models import OnFailure
from guard.store import Incident, claim_incident

# The ledger key of the comment that tells how a remedy ended: one, done or failed.
REMEDY_KEY = "remedy"


@dataclass(frozen=True)
class Claimed:
    """The Incident row as this attempt found or made it."""

    id: int
    code: str
    issue_number: int | None
    remedy_told: str
    # This attempt made the claim: no attempt before it can have filed the issue.
    fresh: bool = False


def filer_for(job: Job, on_failure: OnFailure) -> IncidentFiler:
    """The policy's incident settings, with comment claims kept in the database."""
    ledger = StoreLedger(
        job.ctx.sessions,
        comments=job.github,
        stale_after=timedelta(seconds=job.ctx.options.takeover_after_s),
        clock=job.moment,
    )
    return IncidentFiler(
        job.github,
        job.repo,
        policy=on_failure.incident,
        notify=on_failure.notify,
        environ=os.environ,
        web_url=web_url(job),
        ledger=ledger,
    )


def severity_of(judged: Judged) -> Severity:
    return judged.decision.severity or judged.verdict.severity or Severity.P1


def claim_filing(job: Job, severity: Severity, told: str) -> Claimed | None:
    """This deployment's incident to file (or filed already); None while another files it."""
    now = job.moment()
    with job.transaction() as session:
        row = claim_incident(
            session,
            job.deployment.id,
            repository=job.repo,
            environment=job.deployment.environment,
            severity=severity,
            now=now,
        )
        if row is not None:
            row.remedy_told = told
            session.flush()
            return Claimed(row.id, row.code, None, told, fresh=True)
        row = session.scalars(
            sa.select(Incident)
            .where(Incident.deployment_id == job.deployment.id)
            .execution_options(populate_existing=True)
        ).one()
        found = Claimed(row.id, row.code, row.issue_number, row.remedy_told or told)
        if row.issue_number is not None:
            return found
        # Claimed, never filed: another replica is at it, or died at it.
        if now - row.updated_at < timedelta(seconds=job.ctx.options.takeover_after_s):
            return None
        taken = session.execute(
            sa.update(Incident)
            .where(
                Incident.id == row.id,
                Incident.updated_at == row.updated_at,
                Incident.issue_number.is_(None),
            )
            .values(updated_at=now, remedy_told=found.remedy_told)
            .execution_options(synchronize_session=False)
        )
    if cast("CursorResult[tuple[()]]", taken).rowcount != 1:
        return None
    job.log.warning("incident.taken_over", incident=found.code)
    return found


def store_issue(job: Job, incident_id: int, number: int, url: str) -> None:
    with job.transaction() as session:
        session.execute(
            sa.update(Incident)
            .where(Incident.id == incident_id, Incident.issue_number.is_(None))
            .values(issue_number=number, issue_url=url, updated_at=job.moment())
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Filing:
    """The incident as `file_incident` left it: its issue, and what may still follow it."""

    claimed: Claimed
    filer: IncidentFiler
    number: int
    view: RemedyView
    # Set when this call filed (or found) the issue: comments and colours still follow.
    filed: FiledIncident | None = None
    context: IncidentContext | None = None


def file_incident(
    job: Job, judged: Judged, on_failure: OnFailure, view: RemedyView
) -> Filing | None:
    """File the deployment's incident issue (once), and only that; None while another files it.

    Only reads come before the issue (suspects, the template, CODEOWNERS): it is the write
    people need first, after the remedy's. A fresh claim means no earlier attempt filed it,
    so the marker search is left out.
    """
    claimed = claim_filing(job, severity_of(judged), view.told)
    if claimed is None:
        job.log.info("incident.being_filed_elsewhere")
        return None
    filer = filer_for(job, on_failure)
    if claimed.issue_number is not None:
        return Filing(claimed, filer, claimed.issue_number, view)
    # Suspects, CODEOWNERS, suspect pull requests: more than a lease's worth.
    job.hold(job.ctx.options.remedy_s)
    environment = job.deployment.environment
    url = view.url(web_url(job), job.repo, environment)
    report = report_of(view, claimed.remedy_told, environment, judged.decision, url)
    good = last_good_of(job, view.target)
    context = incident_context(job, judged, code=claimed.code, report=report, good=good)
    filed = filer.file_issue(context, look_first=not claimed.fresh)
    store_issue(job, claimed.id, filed.issue.number, filed.issue.html_url)
    job.log.info(
        "incident.stored", issue=filed.issue.number, code=claimed.code, created=filed.created
    )
    return Filing(claimed, filer, filed.issue.number, view, filed, context)


def finish_incident(job: Job, filing: Filing | None) -> bool:
    """What follows the issue: its labels' colours, the suspect pull requests' comments, the
    chat message, and how the remedy ended; True when nothing is left to tell."""
    if filing is None:
        return False
    if filing.filed is not None and filing.context is not None:
        filing.filer.after_filing(filing.context, filing.filed)
    if filing.claimed.remedy_told == PENDING and filing.view.final:
        tell_remedy_end(job, filing.filer, filing.claimed, filing.number, filing.view)
    return filing.view.final


def report_failure(job: Job, judged: Judged, on_failure: OnFailure, view: RemedyView) -> bool:
    """File the deployment's incident (once) and tell how its remedy ended; True when nothing
    is left to tell."""
    return finish_incident(job, file_incident(job, judged, on_failure, view))


def tell_remedy_end(
    job: Job, filer: IncidentFiler, claimed: Claimed, number: int, view: RemedyView
) -> None:
    """The comment for an issue filed while its remedy still ran: done or failed, once."""
    kind = UpdateKind.REMEDY_DONE if view.told == DONE else UpdateKind.REMEDY_FAILED
    if view.told not in (DONE, FAILED):
        kind = UpdateKind.NOTE
    details = UpdateDetails(
        at=job.moment(),
        target_ref=view.target_label,
        link=view.url(web_url(job), job.repo, job.deployment.environment),
        code=claimed.code,
    )
    filer.add_update(number, kind, view.message or view.told, details=details, key=REMEDY_KEY)
    with job.transaction() as session:
        session.execute(
            sa.update(Incident)
            .where(Incident.id == claimed.id, Incident.remedy_told == PENDING)
            .values(remedy_told=view.told, updated_at=job.moment())
            .execution_options(synchronize_session=False)
        )
