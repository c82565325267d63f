"""What a remedy is asked to undo, what it rolls back to, and how it ended: plain frozen values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from guard.github.identity import OwnIdentity, made_by_guard
from guard.github.models import DeploymentRef
from guard.policy.models import Rollback
from guard.store.base import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from guard.github.port import GitHubPort
    from guard.store.models import Deployment

# Where a rollback target came from: our own passed verifications, GitHub's statuses, a person.
TargetSource = Literal["guard", "github", "manual", "stored"]
# (service, region) -> a boto3 client; tests point it at moto, the service at AWS.
AwsClientFactory = Callable[[str, str], Any]
# How long a claimed or running remedy may go without progress before another run resumes it.
RESUME_AFTER = timedelta(minutes=10)


def short(sha: str) -> str:
    """A commit as people read it: its first seven hex digits."""
    return sha[:7]


@dataclass(frozen=True)
class FailedDeployment:
    """The deployment that failed verification (GitHub's id, not our row's)."""

    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime | None = None
    task: str = "deploy"
    # The guard created it as a rollback: when it fails, nobody rolls it back again.
    is_remedy: bool = False
    installation_id: int | None = None

    @classmethod
    def from_github(
        cls,
        deployment: DeploymentRef,
        identity: Callable[[], OwnIdentity],
        installation_id: int | None = None,
    ) -> Self:
        """From GitHub's deployment; a rollback only if its payload says so and GitHub says we
        created it (`identity`, e.g. `GitHubPort.own_identity`, is asked only then)."""
        return cls(
            id=deployment.id,
            sha=deployment.sha,
            ref=deployment.ref,
            environment=deployment.environment,
            created_at=deployment.created_at,
            task=deployment.task,
            is_remedy=made_by_guard(deployment, identity),
            installation_id=installation_id,
        )

    @classmethod
    def from_row(cls, row: Deployment) -> Self:
        """From the store's row, which is how the verification worker knows a deployment."""
        return cls(
            id=row.github_id,
            sha=row.sha,
            ref=row.ref,
            environment=row.environment,
            created_at=row.created_at,
            task=row.task,
            is_remedy=row.is_remedy,
            installation_id=row.installation_id,
        )


@dataclass(frozen=True)
class Target:
    """What the remedy brings back: a commit (and the ref it was deployed as), or an AWS id."""

    sha: str
    ref: str
    source: TargetSource
    # The GitHub deployment that was verified good with it, when there is one.
    deployment_id: int | None = None

    @property
    def label(self) -> str:
        """`v1.3.2 (abc1234)`, or just `abc1234` when the ref is the SHA itself."""
        if not self.sha:
            return self.ref
        if not self.ref or self.ref == self.sha:
            return short(self.sha)
        return f"{self.ref} ({short(self.sha)})"


@dataclass(frozen=True)
class RemedyRequest:
    """One failed deployment to undo, with the policy's rollback settings and the reasons."""

    repo: str
    failed: FailedDeployment
    rollback: Rollback
    # The verdict's reasons, one sentence each: they go into statuses, commits and pull requests.
    reasons: tuple[str, ...] = ()
    # Policy `mode: shadow`: describe what would have been done, once, and change nothing.
    shadow: bool = False
    # GUARD_DRY_RUN or --dry-run: describe, claim nothing, change nothing.
    dry_run: bool = False
    # A person's choice of target (`rollback --to REF`) instead of the last verified-good one.
    to_ref: str | None = None
    # A person asked (the CLI, ChatOps): the guard's own refusal to roll back a rollback is theirs.
    manual: bool = False
    # The verification's page, linked from the failed deployment's status.
    run_url: str | None = None

    @property
    def environment(self) -> str:
        return self.failed.environment


class OutcomeKind(StrEnum):
    """How a call to `execute_remedy` ended."""

    DONE = "done"
    FAILED = "failed"
    # A guard said no: superseded, no verified-good ref, a rollback's own failure, a busy lock.
    REFUSED = "refused"
    # Dry run or shadow mode: said what it would do.
    DESCRIBED = "described"
    # This deployment's remedy belongs to an earlier call (finished, or still in progress).
    TAKEN = "taken"


@dataclass(frozen=True)
class RemedyOutcome:
    """What happened, in one sentence for people, and what was made on GitHub (or AWS)."""

    kind: OutcomeKind
    message: str
    strategy: str
    target: Target | None = None
    remedy_id: int | None = None
    created_deployment_id: int | None = None
    commit_sha: str | None = None
    pull_number: int | None = None
    html_url: str | None = None
    # True when only a person can go on: a rollback failed, or a failed rollback failed.
    escalate: bool = False
    # For TAKEN: the state the earlier remedy is in (done, failed, running, ...).
    state: str | None = None
    # With `RemedyContext.statuses_later`: the failed deployment's statuses, still to post.
    status: FailedStatus | None = None

    @property
    def succeeded(self) -> bool:
        """Done now, described, or done by an earlier call: nothing left to do."""
        if self.kind is OutcomeKind.TAKEN:
            return self.state in {"done", "skipped"}
        return self.kind in {OutcomeKind.DONE, OutcomeKind.DESCRIBED}


@dataclass(frozen=True)
class FailedStatus:
    """The failed deployment's `failure` status a remedy posts (then `inactive`, if asked)."""

    description: str
    log_url: str | None = None
    inactive: bool = False


@dataclass(frozen=True)
class StepResult:
    """What a strategy made, for the Remedy row and the outcome."""

    message: str
    created_deployment_id: int | None = None
    commit_sha: str | None = None
    pull_number: int | None = None
    html_url: str | None = None


@dataclass(frozen=True)
class RemedyContext:
    """The means a remedy works with; one per caller (the worker, the CLI)."""

    github: GitHubPort
    sessions: sessionmaker[Session]
    # Where git is served (https://github.com, https://HOST on GHES, the sandbox's base URL).
    git_url: str | None = None
    aws: AwsClientFactory | None = None
    # Parent of the temporary clones revert_pr makes; the system's temporary directory if None.
    workdir: Path | None = None
    resume_after: timedelta = RESUME_AFTER
    clock: Callable[[], datetime] = field(default=utcnow)
    # The records outlive a retry (the service's database, not the Action's temporary one):
    # a first attempt, which they show, creates without first looking on GitHub for what an
    # earlier one made; a resumed remedy still looks.
    durable_records: bool = False
    # The caller posts the failed deployment's statuses itself (`RemedyOutcome.status`),
    # after its own first writes: the worker files the incident before them.
    statuses_later: bool = False
