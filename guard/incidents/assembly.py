"""One IncidentContext from what a caller gathered: the worker and the Action build it alike.

They differ in where the facts come from (the worker's rows, the runner's job) and in the
pages they can link to; what the incident is made of, and how, is the same and lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from guard.incidents.context import (
    DeploymentInfo,
    GoodDeployment,
    IncidentContext,
    Links,
    RemedyReport,
    TimelineEntry,
)
from guard.incidents.suspects import SuspectRange
from guard.outcomes import ProbeResult, Verdict
from guard.severity import Decision


@dataclass(frozen=True)
class Pages:
    """The pages the incident links to, besides the comparison that comes with the suspects."""

    deployment: str
    repository: str
    run_page: str | None = None
    check_run: str | None = None
    remedy: str | None = None


@dataclass(frozen=True)
class Finding:
    """What verification found, and when: the verdict, what it decided and the probe results."""

    verdict: Verdict
    decision: Decision
    results: Sequence[ProbeResult]
    detected_at: datetime


def build_incident_context(
    *,
    repository: str,
    environment: str,
    code: str,
    deployment: DeploymentInfo,
    good: GoodDeployment | None,
    finding: Finding,
    remedy: RemedyReport,
    timeline: Sequence[TimelineEntry],
    suspects: SuspectRange,
    pages: Pages,
    rollback_watched: bool,
) -> IncidentContext:
    """The incident of `deployment` in `repository`, as both the worker and the Action file it.

    `rollback_watched`: whether the caller verifies the rollback's own deployment and comments
    its verdict (the worker does; the Action, which runs once, promises nothing of the kind).
    """
    return IncidentContext(
        repository=repository,
        environment=environment,
        code=code,
        deployment=deployment,
        last_good=good,
        verdict=finding.verdict,
        decision=finding.decision,
        remedy=remedy,
        detected_at=finding.detected_at,
        results=tuple(finding.results),
        timeline=tuple(timeline),
        suspects=suspects.commits,
        suspects_incomplete=suspects.incomplete,
        changed_paths=suspects.changed_paths,
        links=Links(
            deployment=pages.deployment,
            check_run=pages.check_run,
            run_page=pages.run_page,
            remedy=pages.remedy,
            compare=suspects.compare_url,
            repository=pages.repository,
        ),
        rollback_watched=rollback_watched,
    )
