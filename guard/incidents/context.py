"""Everything an incident issue says, as plain frozen data: no database rows, no PyGithub."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from guard.outcomes import ProbeResult, Severity, Verdict, VerdictKind
from guard.report.checks import CheckRow, check_rows
from guard.severity import Decision

# The hidden line that lets a retry find the issue instead of filing a second one.
MARKER = "<!-- deploy-guard:incident repo={repository} deployment={deployment} -->"

REMEDY_ROLLED_BACK = "The guard rolled back to {target} with {strategy}."
REMEDY_WOULD_ROLL_BACK = (
    "Shadow mode: the guard would have rolled back to {target} with {strategy}; it changed nothing."
)
REMEDY_NO_GOOD_REF = (
    "No remedy: there is no verified-good deployment of {environment} to roll back to."
)
REMEDY_FIX_FORWARD = "No rollback: {reason}"
REMEDY_FAILED = "The rollback to {target} failed: {error}. A person must act."
REMEDY_ESCALATED = (
    "The rollback's own verification failed: a person must act. The guard never rolls back a "
    "rollback."
)


class RemedyOutcome(StrEnum):
    """What became of the remedy; it picks the next steps the issue asks of people."""

    ROLLED_BACK = "rolled_back"
    WOULD_ROLL_BACK = "would_roll_back"
    NO_GOOD_REF = "no_good_ref"
    FIX_FORWARD = "fix_forward"
    FAILED = "failed"
    ESCALATED = "escalated"


@dataclass(frozen=True)
class RemedyReport:
    """What the guard did about the deployment (or, in shadow mode, would have done)."""

    outcome: RemedyOutcome
    # One sentence a person reads first in "What the guard did".
    description: str
    strategy: str | None = None
    target_ref: str | None = None
    # The remedy's own deployment, commit or pull request.
    url: str | None = None

    @classmethod
    def rolled_back(cls, target: str, strategy: str, url: str | None = None) -> RemedyReport:
        text = REMEDY_ROLLED_BACK.format(target=f"`{target}`", strategy=strategy)
        return cls(RemedyOutcome.ROLLED_BACK, text, strategy, target, url)

    @classmethod
    def would_roll_back(cls, target: str, strategy: str) -> RemedyReport:
        text = REMEDY_WOULD_ROLL_BACK.format(target=f"`{target}`", strategy=strategy)
        return cls(RemedyOutcome.WOULD_ROLL_BACK, text, strategy, target)

    @classmethod
    def no_good_ref(cls, environment: str) -> RemedyReport:
        return cls(RemedyOutcome.NO_GOOD_REF, REMEDY_NO_GOOD_REF.format(environment=environment))

    @classmethod
    def fix_forward(cls, reason: str) -> RemedyReport:
        return cls(RemedyOutcome.FIX_FORWARD, REMEDY_FIX_FORWARD.format(reason=reason))

    @classmethod
    def failed(cls, target: str, strategy: str, error: str) -> RemedyReport:
        text = REMEDY_FAILED.format(target=f"`{target}`", error=error.rstrip("."))
        return cls(RemedyOutcome.FAILED, text, strategy, target)

    @classmethod
    def escalated(cls, url: str | None = None) -> RemedyReport:
        return cls(RemedyOutcome.ESCALATED, REMEDY_ESCALATED, url=url)


@dataclass(frozen=True)
class DeploymentInfo:
    """The deployment that failed."""

    id: int
    sha: str
    ref: str
    creator_login: str | None
    created_at: datetime
    url: str | None = None
    # Where the deployed service answers (the deployment status's environment_url).
    environment_url: str | None = None
    # Set when this deployment is the guard's own rollback of that deployment.
    rollback_of: int | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class GoodDeployment:
    """The last deployment of the environment the guard verified good: the rollback target."""

    sha: str
    ref: str
    deployment_id: int | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class TimelineEntry:
    """One row of the timeline: when (UTC) and what happened."""

    at: datetime
    what: str


@dataclass(frozen=True)
class SuspectCommit:
    """A commit between the last good and the bad deployment, with its pull request if known."""

    sha: str
    subject: str
    author_login: str | None = None
    author_name: str | None = None
    pull_number: int | None = None
    pull_url: str | None = None
    url: str | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class Links:
    """Where people find more; every link is optional."""

    deployment: str | None = None
    check_run: str | None = None
    # The guard's run page: `{public_url}/runs/{verification id}`.
    run_page: str | None = None
    remedy: str | None = None
    compare: str | None = None
    repository: str | None = None


@dataclass(frozen=True)
class IncidentContext:
    """All an incident issue needs, gathered once; rendering reads nothing else."""

    repository: str
    environment: str
    code: str
    deployment: DeploymentInfo
    last_good: GoodDeployment | None
    verdict: Verdict
    decision: Decision
    remedy: RemedyReport
    # When the verdict was reached: the end of "time to detect".
    detected_at: datetime
    results: tuple[ProbeResult, ...] = ()
    checks: tuple[CheckRow, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    suspects: tuple[SuspectCommit, ...] = ()
    # Set when the comparison could not list every commit (GitHub lists at most 250).
    suspects_incomplete: bool = False
    # The files the suspect commits changed, for CODEOWNERS.
    changed_paths: tuple[str, ...] = ()
    links: Links = field(default_factory=Links)
    # From the deployment's creation to the verdict, unless the caller knows better.
    time_to_detect_s: float | None = None
    # A guard service verifies the rollback's own deployment and comments its verdict and the
    # time to restore on the issue. The webhook service does; the Action alone does not (it
    # verifies only the deployment of the job it runs in), so it promises nothing of the kind.
    rollback_watched: bool = False

    @property
    def severity(self) -> Severity:
        """The incident's severity: the decision's (P0 after an escalation), else the verdict's."""
        return self.decision.severity or self.verdict.severity or Severity.P1

    @property
    def marker(self) -> str:
        return incident_marker(self.repository, self.deployment.id)

    @property
    def rows(self) -> tuple[CheckRow, ...]:
        """The check rows given, or computed from the probe results."""
        return self.checks or tuple(check_rows(self.results))

    @property
    def detect_seconds(self) -> float:
        if self.time_to_detect_s is not None:
            return self.time_to_detect_s
        return max(0.0, (self.detected_at - self.deployment.created_at).total_seconds())

    @property
    def failed(self) -> bool:
        return self.verdict.kind is VerdictKind.FAIL


def incident_marker(repository: str, deployment_id: int) -> str:
    """The marker of the one incident of `deployment_id` in `repository`."""
    return MARKER.format(repository=repository, deployment=deployment_id)


def run_page_url(public_url: str | None, verification_id: int) -> str | None:
    """The guard's page for one run, when GUARD_PUBLIC_URL is set."""
    return f"{public_url.rstrip('/')}/runs/{verification_id}" if public_url else None


class TimelineRow(Protocol):
    """Anything with a time and a sentence, such as the store's timeline events."""

    @property
    def at(self) -> datetime: ...

    @property
    def message(self) -> str: ...


def timeline_entries(events: Iterable[TimelineRow]) -> tuple[TimelineEntry, ...]:
    """Timeline rows (oldest first) as entries, read as UTC when they carry no zone."""
    return tuple(TimelineEntry(as_utc(event.at), event.message) for event in events)


def as_utc(moment: datetime) -> datetime:
    """The same moment in UTC; a naive datetime is taken to be UTC already (as stored)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
