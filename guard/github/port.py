"""The GitHub operations the domain needs, as a Protocol: remedies and incidents depend on this.

Every method takes `repo` as "owner/name" and returns frozen values from `models`, never
PyGithub objects. Failures are the typed errors of `guard.github.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from guard.github.identity import OwnIdentity
from guard.github.models import (
    BranchRef,
    CheckConclusion,
    CheckRunInfo,
    CheckRunRef,
    CheckStatus,
    CommentRef,
    CommitInfo,
    Comparison,
    DeploymentRef,
    DeploymentState,
    DeploymentStatusInfo,
    IssueComment,
    IssueRef,
    PullRef,
    ReviewState,
)


class GitHubPort(Protocol):
    """What deploy-guard asks of GitHub. `GitHubClient` implements it; tests may fake it."""

    # -- repository contents -------------------------------------------------------------
    def get_file(self, repo: str, path: str, ref: str) -> bytes | None:
        """The file's bytes at `ref`, or None when there is no such file."""
        ...

    def default_branch(self, repo: str) -> str:
        """The repository's default branch name."""
        ...

    # -- check runs ----------------------------------------------------------------------
    def create_check_run(
        self,
        repo: str,
        head_sha: str,
        name: str,
        *,
        status: CheckStatus,
        title: str,
        summary: str,
        text: str = "",
        details_url: str | None = None,
        conclusion: CheckConclusion | None = None,
        external_id: str | None = None,
    ) -> CheckRunRef:
        """Create a check run on `head_sha`; a `completed` one needs a `conclusion`. With
        `external_id` a retry finds the run an earlier attempt made."""
        ...

    def find_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str
    ) -> CheckRunRef | None:
        """The newest check run of `name` on `head_sha` carrying `external_id`, if any."""
        ...

    def list_check_runs_for_ref(
        self, repo: str, ref: str, name: str | None = None, *, every: bool = False
    ) -> list[CheckRunInfo]:
        """The newest check run of each name on `ref`, newest first; `every`: all of them."""
        ...

    def update_check_run(
        self,
        repo: str,
        check_run_id: int,
        *,
        status: CheckStatus | None = None,
        conclusion: CheckConclusion | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str = "",
    ) -> None:
        """Move a check run on; `title` and `summary` replace its output when both are given."""
        ...

    # -- deployments ---------------------------------------------------------------------
    def create_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        *,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
        environment: str | None = None,
    ) -> DeploymentStatusInfo:
        """Add a status; the description is cut to GitHub's 140 characters with an ellipsis."""
        ...

    def list_deployments(self, repo: str, environment: str) -> list[DeploymentRef]:
        """The environment's deployments, newest first by (created_at, id), sorted by us."""
        ...

    def list_deployment_statuses(self, repo: str, deployment_id: int) -> list[DeploymentStatusInfo]:
        """A deployment's statuses, newest first by (created_at, id), sorted by us."""
        ...

    def last_successful_deployment(
        self, repo: str, environment: str, exclude_ids: Sequence[int] = ()
    ) -> DeploymentRef | None:
        """The newest deployment that ever reached `success`, even if later marked inactive."""
        ...

    def create_deployment(
        self,
        repo: str,
        ref: str,
        environment: str,
        *,
        payload: Mapping[str, Any] | None = None,
        description: str = "",
        auto_merge: bool = False,
        required_contexts: Sequence[str] = (),
        production_environment: bool | None = None,
        idempotency_key: str | None = None,
    ) -> DeploymentRef:
        """Create a deployment; with `idempotency_key` a retry finds the one already made."""
        ...

    # -- git data ------------------------------------------------------------------------
    def get_branch_head(self, repo: str, branch: str) -> str:
        """The SHA the branch points at."""
        ...

    def get_commit(self, repo: str, sha: str) -> CommitInfo:
        """A commit's tree, parents, message and author."""
        ...

    def create_commit(self, repo: str, message: str, tree_sha: str, parents: Sequence[str]) -> str:
        """Create a commit object (no branch moves) and return its SHA."""
        ...

    def update_branch(self, repo: str, branch: str, sha: str) -> None:
        """Fast-forward a branch to `sha`, never forcing; raises RefUpdateRefused."""
        ...

    def create_branch(self, repo: str, branch: str, sha: str) -> BranchRef:
        """Create a branch at `sha`; an existing branch is returned with `created=False`."""
        ...

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        """The commits and files between `base` and `head`."""
        ...

    # -- pull requests -------------------------------------------------------------------
    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> PullRef:
        """Open a pull request, or return the one already open for `head` into `base`."""
        ...

    def find_open_pull(self, repo: str, head: str, base: str) -> PullRef | None:
        """The open pull request from branch `head` into `base`, if there is one."""
        ...

    def find_merged_pull(self, repo: str, head: str) -> PullRef | None:
        """The newest merged pull request from branch `head` (of `repo`), with its merge
        commit, if there is one."""
        ...

    # -- issues --------------------------------------------------------------------------
    def create_issue(
        self,
        repo: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
        *,
        marker: str | None = None,
    ) -> IssueRef:
        """File an issue; with `marker` (an HTML comment in `body`) a retry finds the first."""
        ...

    def find_issue_with_marker(
        self, repo: str, marker: str, labels: Sequence[str]
    ) -> IssueRef | None:
        """An open or closed issue carrying `labels` whose body contains `marker`."""
        ...

    def comment_on_issue(self, repo: str, number: int, body: str) -> CommentRef:
        """Comment on an issue or pull request."""
        ...

    def list_issue_comments(self, repo: str, number: int) -> list[IssueComment]:
        """Every comment on issue (or pull request) `number`, oldest first."""
        ...

    def ensure_labels(self, repo: str, labels: Mapping[str, str]) -> None:
        """Create the labels (name -> hex colour) that do not exist yet."""
        ...

    def colour_labels(self, repo: str, colours: Mapping[str, str]) -> None:
        """Give existing labels (name -> hex colour) these colours."""
        ...

    def swap_issue_label(
        self,
        repo: str,
        number: int,
        prefix: str,
        label: str,
        *,
        retitle: Callable[[str], str] | None = None,
    ) -> tuple[str, ...]:
        """Put `label` on the issue in place of its labels starting with `prefix` (say
        `severity:`), keeping the others, and give it the title `retitle` makes of its title,
        in one write; returns the issue's labels afterwards."""
        ...

    # -- actions -------------------------------------------------------------------------
    def review_protection_rule(
        self,
        repo: str,
        run_id: int,
        environment: str,
        state: ReviewState | None,
        comment: str,
    ) -> None:
        """Approve or reject a custom deployment protection rule; no state posts a report."""
        ...

    def dispatch_workflow(
        self, repo: str, workflow_file: str, ref: str, inputs: Mapping[str, str]
    ) -> None:
        """Start a `workflow_dispatch` run of `.github/workflows/<workflow_file>` on `ref`."""
        ...

    # -- credentials ---------------------------------------------------------------------
    def own_identity(self) -> OwnIdentity:
        """The account (or App) this client acts as, learnt once: a deployment is the guard's
        own only when GitHub says this identity created it, whatever its payload claims."""
        ...

    def installation_token(self, installation_id: int | None = None) -> str:
        """A token for git over HTTPS (`x-access-token:<token>`); the client's own by default."""
        ...
