"""The records the sandbox keeps besides git: flat JSON-friendly dataclasses, one per thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Collaborator permission levels, weakest first (GitHub's repository roles).
PERMISSION_LEVELS = ("read", "triage", "write", "maintain", "admin")


@dataclass
class UserRecord:
    id: int
    login: str
    created_at: str
    name: str | None = None
    email: str | None = None
    type: str = "User"
    # Commit e-mails GitHub would map to this account (compare and commit `author.login`).
    emails: list[str] = field(default_factory=list)


@dataclass
class RepoRecord:
    id: int
    owner: str
    name: str
    default_branch: str
    created_at: str
    updated_at: str
    pushed_at: str
    private: bool = False
    description: str | None = None
    # login -> one of PERMISSION_LEVELS; the owner is implicitly admin.
    collaborators: dict[str, str] = field(default_factory=dict)
    # Issues and pull requests share one number sequence per repository, as on GitHub.
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class ProtectionRecord:
    repo: str
    branch: str
    required_status_checks: list[str] = field(default_factory=list)
    strict: bool = False
    require_pull_request: bool = True
    required_approving_review_count: int = 1
    enforce_admins: bool = True
    allow_force_pushes: bool = False
    allow_deletions: bool = False


@dataclass
class EnvironmentRecord:
    id: int
    repo: str
    name: str
    created_at: str
    updated_at: str


@dataclass
class LabelRecord:
    id: int
    repo: str
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class IssueRecord:
    id: int
    repo: str
    number: int
    title: str
    user: str
    created_at: str
    updated_at: str
    body: str | None = None
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: int = 0
    closed_at: str | None = None
    locked: bool = False
    is_pull: bool = False


@dataclass
class PullRecord:
    id: int
    repo: str
    number: int
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    merged_at: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class CommentRecord:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    created_at: str
    updated_at: str


@dataclass
class DeploymentRecord:
    id: int
    repo: str
    sha: str
    ref: str
    task: str
    payload: Any
    environment: str
    original_environment: str
    creator: str
    created_at: str
    updated_at: str
    description: str | None = None
    transient_environment: bool = False
    production_environment: bool = False
    app_id: int | None = None


@dataclass
class DeploymentStatusRecord:
    id: int
    deployment_id: int
    repo: str
    state: str
    creator: str
    created_at: str
    updated_at: str
    description: str = ""
    environment: str = ""
    environment_url: str = ""
    log_url: str = ""
    target_url: str = ""
    app_id: int | None = None


@dataclass
class CheckRunRecord:
    id: int
    repo: str
    name: str
    head_sha: str
    status: str
    app_id: int
    check_suite_id: int
    started_at: str | None = None
    completed_at: str | None = None
    conclusion: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    output_title: str | None = None
    output_summary: str | None = None
    output_text: str | None = None


@dataclass
class CommitStatusRecord:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    creator: str
    created_at: str
    updated_at: str
    description: str | None = None
    target_url: str | None = None


@dataclass
class AppRecord:
    id: int
    slug: str
    name: str
    owner: str
    public_key_pem: str
    client_id: str
    created_at: str
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    description: str | None = None


@dataclass
class InstallationRecord:
    id: int
    app_id: int
    account: str
    created_at: str
    # Full names the installation may reach; None means every repository of the account.
    repositories: list[str] | None = None
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class TokenRecord:
    token: str
    kind: str  # "installation" or "user"
    login: str | None = None
    installation_id: int | None = None
    expires_at: float | None = None
    repositories: list[str] | None = None
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class ReviewRecord:
    """A deployment protection rule review (approve, reject or a status report) an App posted."""

    id: int
    repo: str
    run_id: int
    environment_name: str
    actor: str
    created_at: str
    state: str | None = None
    comment: str | None = None


@dataclass
class DispatchRecord:
    id: int
    repo: str
    workflow_id: str
    ref: str
    actor: str
    created_at: str
    inputs: dict[str, Any] = field(default_factory=dict)
