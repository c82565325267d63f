"""Operations on a sandbox repository that REST routes and the control API share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from guard.sandbox.auth import Principal
from guard.sandbox.errors import ApiError
from guard.sandbox.gitobjects import GitIdentity, TreeChange
from guard.sandbox.gitstore import GitStore
from guard.sandbox.models import RepoRecord
from guard.sandbox.runtime import SandboxRuntime
from guard.sandbox.state import SandboxState, utc_now

HEADS = "refs/heads/"
PULL_REQUEST_REQUIRED = "Changes must be made through a pull request."
# Check-run conclusions that satisfy a required status check, as on GitHub.
PASSING_CONCLUSIONS = {"success", "neutral", "skipped"}


@dataclass(frozen=True)
class Author:
    """Who a control-API commit is by; `login` links the e-mail to an account, as GitHub does."""

    name: str = "Sandbox Bot"
    email: str = "sandbox@example.com"
    login: str | None = None


def create_repository(
    runtime: SandboxRuntime,
    full_name: str,
    *,
    default_branch: str = "main",
    files: Mapping[str, str | bytes] | None = None,
    private: bool = False,
    description: str | None = None,
    author: Author | None = None,
    owner_type: str = "User",
) -> RepoRecord:
    state = runtime.state
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"repository names look like owner/name, not {full_name!r}")
    with state.lock:
        if state.repo(full_name) is not None:
            raise ValueError(f"repository {full_name} already exists")
        state.ensure_user(owner, kind=owner_type)
        now = utc_now()
        repo = RepoRecord(
            id=state.next_id("repository"),
            owner=owner,
            name=name,
            default_branch=default_branch,
            created_at=now,
            updated_at=now,
            pushed_at=now,
            private=private,
            description=description,
        )
        state.repos[repo.full_name.lower()] = repo
        runtime.git(repo).initialize(default_branch)
        if files:
            commit_files(runtime, repo, default_branch, files, "Initial commit", author=author)
        return repo


def commit_files(
    runtime: SandboxRuntime,
    repo: RepoRecord,
    branch: str,
    files: Mapping[str, str | bytes | None],
    message: str,
    *,
    author: Author | None = None,
    start_from: str | None = None,
) -> str:
    """A commit on `branch` changing `files` (None deletes a path), as a push by an admin would.

    A missing branch is created from `start_from` (a branch or sha) or the default branch.
    """
    git = runtime.git(repo)
    who = author or Author()
    with runtime.state.lock:
        if who.login:
            runtime.state.ensure_user(who.login, name=who.name, email=who.email)
        ref = HEADS + branch
        old = git.ref_target(ref)
        parent = old or git.resolve(start_from or repo.default_branch)
        base_tree = git.resolve(parent, "tree") if parent else None
        changes = [
            TreeChange(path, "100644", "blob", None, None)
            if content is None
            else TreeChange(path, "100644", "blob", None, _bytes(content))
            for path, content in files.items()
        ]
        tree = git.write_tree(base_tree, changes)
        identity = GitIdentity.now(who.name, who.email)
        sha = git.write_commit(tree, [parent] if parent else [], message, identity, identity)
        if not git.update_ref(ref, sha, old):
            raise RuntimeError(f"{ref} moved while committing")
        repo.pushed_at = utc_now()
        return sha


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def passing_contexts(state: SandboxState, repo: RepoRecord, sha: str) -> dict[str, str]:
    """Each status context and check name on a commit, with its latest state."""
    latest: dict[str, str] = {}
    statuses = sorted(
        (s for s in state.commit_statuses.values() if s.repo == repo.full_name and s.sha == sha),
        key=lambda s: s.id,
    )
    for status in statuses:
        latest[status.context] = status.state
    for run in sorted(state.check_runs.values(), key=lambda r: r.id):
        if run.repo == repo.full_name and run.head_sha == sha:
            if run.status != "completed":
                latest[run.name] = "pending"
            else:
                passed = run.conclusion in PASSING_CONCLUSIONS
                latest[run.name] = "success" if passed else "failure"
    return latest


def check_ref_update(
    state: SandboxState,
    repo: RepoRecord,
    principal: Principal,
    ref: str,
    new_sha: str | None,
    *,
    forced: bool,
) -> None:
    """Refuse what branch protection forbids, with GitHub's 422 messages; new_sha None deletes."""
    if not ref.startswith(HEADS):
        return
    protection = state.protection(repo.full_name, ref[len(HEADS) :])
    if protection is None:
        return
    is_admin = principal.login is not None and state.permission(repo, principal.login) == "admin"
    if is_admin and principal.kind == "user" and not protection.enforce_admins:
        return
    if new_sha is None:
        if not protection.allow_deletions:
            raise ApiError(422, "Cannot delete this protected branch")
        return
    if forced and not protection.allow_force_pushes:
        raise ApiError(422, "Cannot force-push to this branch")
    problems = []
    required = protection.required_status_checks
    if required:
        states = passing_contexts(state, repo, new_sha)
        missing = [context for context in required if states.get(context) != "success"]
        if missing:
            problems.append(
                f"{len(missing)} of {len(required)} required status checks are expected."
            )
    if protection.require_pull_request:
        problems.append(PULL_REQUEST_REQUIRED)
    if problems:
        raise ApiError(422, " ".join(problems))


@dataclass(frozen=True)
class MergeOutcome:
    sha: str | None  # the new branch head; None when nothing had to be merged
    conflict: bool = False


def merge_into(
    git: GitStore, base_branch: str, head_sha: str, message: str, committer: GitIdentity
) -> MergeOutcome:
    """Merge a commit into a branch: nothing, a fast-forward or a merge commit; or a conflict."""
    ref = HEADS + base_branch
    base_sha = git.ref_target(ref)
    if base_sha is None:
        raise ApiError(404, "Base does not exist")
    if git.is_ancestor(head_sha, base_sha):
        return MergeOutcome(None)
    if git.is_ancestor(base_sha, head_sha):
        new_sha = head_sha
    else:
        tree = git.merge_trees(base_sha, head_sha)
        if tree is None:
            return MergeOutcome(None, conflict=True)
        new_sha = git.write_commit(tree, [base_sha, head_sha], message, committer, committer)
    if not git.update_ref(ref, new_sha, base_sha):
        raise ApiError(409, "Reference update failed")
    return MergeOutcome(new_sha)
