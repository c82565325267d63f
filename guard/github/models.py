"""What GitHub answers, as small frozen values the domain can hold without knowing PyGithub."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

DeploymentState = Literal[
    "error", "failure", "inactive", "in_progress", "queued", "pending", "success"
]
CheckStatus = Literal["queued", "in_progress", "completed"]
CheckConclusion = Literal[
    "action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"
]
ReviewState = Literal["approved", "rejected"]

# GitHub rejects longer deployment status descriptions with a 422.
STATUS_DESCRIPTION_LIMIT = 140
# Where deploy-guard keeps its own keys inside a deployment's payload.
PAYLOAD_NAMESPACE = "deploy_guard"


def truncate_description(text: str, limit: int = STATUS_DESCRIPTION_LIMIT) -> str:
    """Fit `text` in `limit` characters, ending with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class DeploymentRef:
    """One deployment as listed or created."""

    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    task: str = "deploy"
    description: str = ""
    creator_login: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # `performed_via_github_app.id`: the App whose token created it, set by GitHub.
    app_id: int | None = None

    @property
    def idempotency_key(self) -> str | None:
        """The key deploy-guard put in the payload when it created this deployment, if any."""
        ours = self.payload.get(PAYLOAD_NAMESPACE)
        if isinstance(ours, Mapping):
            key = ours.get("idempotency_key")
            return key if isinstance(key, str) else None
        return None


@dataclass(frozen=True)
class DeploymentStatusInfo:
    """One status of a deployment."""

    id: int
    state: str
    created_at: datetime
    description: str = ""
    environment: str = ""
    log_url: str | None = None
    environment_url: str | None = None


@dataclass(frozen=True)
class CheckRunRef:
    """A check run we created."""

    id: int
    html_url: str | None = None


@dataclass(frozen=True)
class CheckRunInfo:
    """A check run on a commit, as listed."""

    id: int
    name: str
    status: str
    conclusion: str | None
    head_sha: str
    app_slug: str | None = None
    html_url: str | None = None
    # What the App that made it put there to recognise it (the guard: its verification).
    external_id: str | None = None


@dataclass(frozen=True)
class CommitInfo:
    """A commit with what a revert needs: its tree, parents, message and author."""

    sha: str
    tree_sha: str
    parents: tuple[str, ...]
    message: str
    author_name: str
    author_email: str
    # The GitHub account the author email maps to; None when it maps to none.
    author_login: str | None = None

    @property
    def subject(self) -> str:
        """The first line of the message, as git shows it in a revert's title."""
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class ComparedCommit:
    """One commit in a comparison."""

    sha: str
    message: str
    author_login: str | None = None


@dataclass(frozen=True)
class ChangedFile:
    """One file a comparison touched."""

    filename: str
    status: str
    previous_filename: str | None = None


@dataclass(frozen=True)
class Comparison:
    """`base...head`: the commits on head since the merge base, and the files they changed."""

    status: str
    ahead_by: int
    behind_by: int
    commits: tuple[ComparedCommit, ...]
    files: tuple[ChangedFile, ...]
    merge_base_sha: str | None = None


@dataclass(frozen=True)
class BranchRef:
    """A branch and where it points; `created` is False when it was already there."""

    name: str
    sha: str
    created: bool


@dataclass(frozen=True)
class PullRef:
    """A pull request."""

    number: int
    html_url: str
    head: str
    base: str
    state: str = "open"
    # Set by GitHub once merged: the merge commit, the squashed commit or the last rebased one.
    merged: bool = False
    merge_commit_sha: str | None = None
    # The commit the head branch pointed at (when merged: the one merged).
    head_sha: str | None = None


@dataclass(frozen=True)
class IssueRef:
    """An issue."""

    number: int
    title: str
    state: str
    html_url: str
    # Its labels as GitHub answered: name -> colour (six hex digits).
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class IssueComment:
    """A comment on an issue or pull request, with what a marker search needs."""

    id: int
    body: str
    author_login: str | None
    created_at: datetime
    html_url: str


@dataclass(frozen=True)
class CommentRef:
    """A comment on an issue or pull request."""

    id: int
    html_url: str
