"""The story's facts as GitHub (the sandbox) holds them, and which of them are still missing."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from guard.incidents.context import incident_marker
from guard.incidents.updates import HEADINGS, UpdateKind
from guard.sandbox import Sandbox
from guard.sandbox.models import (
    CheckRunRecord,
    CommentRecord,
    DeploymentRecord,
    DeploymentStatusRecord,
    IssueRecord,
)

GUARD_PAYLOAD_KEY = "deploy_guard"
CHECK_RUN_ID_PREFIX = "deploy-guard"
RESTORED_HEADING = f"**{HEADINGS[UpdateKind.SERVICE_RESTORED]}**"

NOT_DEPLOYED = "{version} was never deployed"
NOT_VERIFIED = "{version} (deployment {id}) has no finished verification (check run: {state})"
WRONG_VERDICT = (
    "{version} (deployment {id}) was expected to {expected}, but its check run says {got}"
)
NO_REMEDY = "the guard created no rollback deployment of v1's commit {sha}"
MANY_REMEDIES = "the guard created {count} rollback deployments of {sha}, not one"
NO_INCIDENT = "no incident issue was filed for deployment {id}"
MANY_INCIDENTS = "{count} incident issues were filed for deployment {id}, not one"
NO_REMEDY_VERIFICATION = "the rollback (deployment {id}) has no finished verification ({state})"
REMEDY_NOT_PASSED = "the rollback (deployment {id}) did not pass its verification ({got})"
NOT_RESTORED = "no 'Service restored' comment on incident #{number}"
NO_CHECK_RUN = "none yet"


@dataclass(frozen=True)
class Tables:
    """Copies of the sandbox records of one repository, each list in creation order."""

    deployments: list[DeploymentRecord]
    statuses: list[DeploymentStatusRecord]
    check_runs: list[CheckRunRecord]
    issues: list[IssueRecord]
    comments: list[CommentRecord]


class _Record(Protocol):
    repo: str
    id: int


R = TypeVar("R", bound=_Record)


def _of(records: Iterable[R], repo: str) -> list[R]:
    """The repository's records, copied, oldest first (ids only ever grow)."""
    return sorted((copy.copy(r) for r in records if r.repo == repo), key=lambda r: r.id)


def read_tables(sandbox: Sandbox, repo: str) -> Tables:
    """What the sandbox holds for `repo` now (copies: routes go on changing the originals)."""
    state = sandbox.runtime.state
    with state.lock:
        # list() of a dict's values runs without letting another thread in.
        deployments = list(state.deployments.values())
        statuses = list(state.deployment_statuses.values())
        check_runs = list(state.check_runs.values())
        issues = list(state.issues.values())
        comments = list(state.comments.values())
    return Tables(
        deployments=_of(deployments, repo),
        statuses=_of(statuses, repo),
        check_runs=_of(check_runs, repo),
        issues=[issue for issue in _of(issues, repo) if not issue.is_pull],
        comments=_of(comments, repo),
    )


def by_guard(deployment: DeploymentRecord) -> bool:
    payload = deployment.payload
    return (
        deployment.app_id is not None
        and isinstance(payload, dict)
        and (GUARD_PAYLOAD_KEY in payload)
    )


def deployment_of_check(run: CheckRunRecord) -> int | None:
    """The deployment a guard check run's external id names (`deploy-guard:<id>:<run>`)."""
    parts = (run.external_id or "").split(":")
    if len(parts) == 3 and parts[0] == CHECK_RUN_ID_PREFIX and parts[1].isdigit():
        return int(parts[1])
    return None


def describe_check(run: CheckRunRecord | None) -> str:
    if run is None:
        return NO_CHECK_RUN
    if run.status != "completed":
        return f"{run.status}: {run.output_title or ''}".strip()
    return f"{run.conclusion}: {run.output_title or ''}".strip()


@dataclass(frozen=True)
class StoryFacts:
    """The story as GitHub tells it: v1 passed, v2 failed, one rollback, one incident, restored.

    The guard's check runs are told apart by commit and order: v1's commit gets two, the
    first for v1's own deployment, the second for the rollback's.
    """

    tables: Tables
    repo: str
    v1_deployment: DeploymentRecord | None
    v2_deployment: DeploymentRecord | None

    @classmethod
    def read(
        cls, sandbox: Sandbox, repo: str, v1_deployment_id: int | None, v2_deployment_id: int | None
    ) -> StoryFacts:
        tables = read_tables(sandbox, repo)
        found = {d.id: d for d in tables.deployments}
        return cls(
            tables,
            repo,
            found.get(v1_deployment_id) if v1_deployment_id else None,
            found.get(v2_deployment_id) if v2_deployment_id else None,
        )

    def check_runs_on(self, sha: str) -> list[CheckRunRecord]:
        return [run for run in self.tables.check_runs if run.head_sha == sha]

    def check_run_of(
        self, deployment: DeploymentRecord | None, index: int = 0
    ) -> CheckRunRecord | None:
        """The guard's check run of a deployment: the one whose external id names it, else
        (a guard that sets none) the `index`-th on its commit."""
        if deployment is None:
            return None
        runs = self.check_runs_on(deployment.sha)
        named = [run for run in runs if deployment_of_check(run) == deployment.id]
        if named:
            return named[0]
        unnamed = [run for run in runs if deployment_of_check(run) is None]
        return unnamed[index] if len(unnamed) > index else None

    @property
    def v1_check(self) -> CheckRunRecord | None:
        return self.check_run_of(self.v1_deployment)

    @property
    def v2_check(self) -> CheckRunRecord | None:
        return self.check_run_of(self.v2_deployment)

    @property
    def remedy_check(self) -> CheckRunRecord | None:
        remedies = self.remedies
        if not remedies:
            return None
        # Without external ids the rollback's run is the second on v1's commit.
        return self.check_run_of(remedies[0], index=1)

    @property
    def remedies(self) -> list[DeploymentRecord]:
        """The guard's rollback deployments of v1's commit."""
        if self.v1_deployment is None:
            return []
        sha = self.v1_deployment.sha
        return [d for d in self.tables.deployments if by_guard(d) and d.sha == sha]

    @property
    def incidents(self) -> list[IssueRecord]:
        """The issues that carry the marker of v2's incident."""
        if self.v2_deployment is None:
            return []
        marker = incident_marker(self.repo, self.v2_deployment.id)
        return [issue for issue in self.tables.issues if marker in (issue.body or "")]

    @property
    def incident(self) -> IssueRecord | None:
        return self.incidents[0] if self.incidents else None

    def comments_on(self, number: int) -> list[CommentRecord]:
        return [c for c in self.tables.comments if c.issue_number == number]

    @property
    def restored(self) -> bool:
        incident = self.incident
        return incident is not None and any(
            RESTORED_HEADING in comment.body for comment in self.comments_on(incident.number)
        )

    def statuses_of(self, deployment_id: int) -> list[DeploymentStatusRecord]:
        return [s for s in self.tables.statuses if s.deployment_id == deployment_id]

    # -- what the story still lacks ------------------------------------------------------------
    def _verdict_gap(
        self,
        version: str,
        deployment: DeploymentRecord | None,
        run: CheckRunRecord | None,
        expected: str,
    ) -> str | None:
        if deployment is None:
            return NOT_DEPLOYED.format(version=version)
        if run is None or run.status != "completed":
            return NOT_VERIFIED.format(version=version, id=deployment.id, state=describe_check(run))
        if run.conclusion != expected:
            words = "pass" if expected == "success" else "fail"
            return WRONG_VERDICT.format(
                version=version, id=deployment.id, expected=words, got=describe_check(run)
            )
        return None

    def v1_gap(self) -> str | None:
        return self._verdict_gap("v1", self.v1_deployment, self.v1_check, "success")

    def v2_gap(self) -> str | None:
        return self._verdict_gap("v2", self.v2_deployment, self.v2_check, "failure")

    def missing(self) -> list[str]:
        """Every part of the story that did not happen (empty: the story completed)."""
        gaps = [gap for gap in (self.v1_gap(), self.v2_gap()) if gap is not None]
        if self.v1_deployment is None or self.v2_deployment is None:
            return gaps
        sha = self.v1_deployment.sha[:7]
        remedies = self.remedies
        if not remedies:
            gaps.append(NO_REMEDY.format(sha=sha))
        elif len(remedies) > 1:
            gaps.append(MANY_REMEDIES.format(count=len(remedies), sha=sha))
        incidents = self.incidents
        if not incidents:
            gaps.append(NO_INCIDENT.format(id=self.v2_deployment.id))
        elif len(incidents) > 1:
            gaps.append(MANY_INCIDENTS.format(count=len(incidents), id=self.v2_deployment.id))
        if remedies:
            run = self.remedy_check
            if run is None or run.status != "completed":
                gaps.append(
                    NO_REMEDY_VERIFICATION.format(id=remedies[0].id, state=describe_check(run))
                )
            elif run.conclusion != "success":
                gaps.append(REMEDY_NOT_PASSED.format(id=remedies[0].id, got=describe_check(run)))
        if incidents and not self.restored:
            gaps.append(NOT_RESTORED.format(number=incidents[0].number))
        return gaps
