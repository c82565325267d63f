"""Setting up the sandbox's world and reading it back: repositories, commits, Apps, tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guard.sandbox.auth import (
    GUARD_APP_EVENTS,
    GUARD_APP_PERMISSIONS,
    AppCredentials,
    generate_app_key,
    new_token,
)
from guard.sandbox.calllog import CallLog
from guard.sandbox.faults import Fault, FaultKind
from guard.sandbox.gitobjects import GitIdentity
from guard.sandbox.models import (
    AppRecord,
    EnvironmentRecord,
    InstallationRecord,
    ProtectionRecord,
    RepoRecord,
    TokenRecord,
    UserRecord,
)
from guard.sandbox.repo_ops import HEADS, Author, commit_files, create_repository
from guard.sandbox.runtime import SandboxRuntime
from guard.sandbox.state import branch_key, issue_key, utc_now
from guard.sandbox.violations import Violation

if TYPE_CHECKING:
    from guard.sandbox.webhooks import Delivery


class SandboxControl:
    """The control API in Python; `/_sandbox/...` calls the same methods over HTTP."""

    runtime: SandboxRuntime

    def __init__(self, runtime: SandboxRuntime) -> None:
        self.runtime = runtime

    # repositories -------------------------------------------------------------------------

    def create_repo(
        self,
        full_name: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        default_branch: str = "main",
        private: bool = False,
        description: str | None = None,
        author: Author | None = None,
    ) -> RepoRecord:
        """A repository whose default branch holds `files` in one real commit (if any)."""
        return create_repository(
            self.runtime,
            full_name,
            default_branch=default_branch,
            files=files,
            private=private,
            description=description,
            author=author,
        )

    def _repo(self, full_name: str) -> RepoRecord:
        repo = self.runtime.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name}")
        return repo

    def commit(
        self,
        full_name: str,
        files: Mapping[str, str | bytes | None],
        message: str = "Change files",
        *,
        branch: str | None = None,
        author: Author | None = None,
        start_from: str | None = None,
    ) -> str:
        """Push one commit changing `files` (None deletes), past branch protection like an admin."""
        repo = self._repo(full_name)
        return commit_files(
            self.runtime,
            repo,
            branch or repo.default_branch,
            files,
            message,
            author=author,
            start_from=start_from,
        )

    def branch_sha(self, full_name: str, branch: str | None = None) -> str | None:
        repo = self._repo(full_name)
        return self.runtime.git(repo).ref_target(HEADS + (branch or repo.default_branch))

    def create_tag(self, full_name: str, tag: str, ref: str) -> str:
        git = self.runtime.git(self._repo(full_name))
        sha = git.resolve(ref)
        if sha is None or not git.update_ref(f"refs/tags/{tag}", sha, None):
            raise ValueError(f"cannot tag {ref!r} as {tag!r}")
        return sha

    def git_dir(self, full_name: str) -> Path:
        """The bare repository on disk, for `git diff --quiet A B` and friends."""
        return self.runtime.git(self._repo(full_name)).path

    def protect_branch(
        self,
        full_name: str,
        branch: str,
        *,
        required_status_checks: Iterable[str] = (),
        require_pull_request: bool = True,
        required_approving_review_count: int = 1,
        enforce_admins: bool = True,
        allow_force_pushes: bool = False,
        allow_deletions: bool = False,
    ) -> ProtectionRecord:
        repo = self._repo(full_name)
        protection = ProtectionRecord(
            repo=repo.full_name,
            branch=branch,
            required_status_checks=list(required_status_checks),
            require_pull_request=require_pull_request,
            required_approving_review_count=required_approving_review_count,
            enforce_admins=enforce_admins,
            allow_force_pushes=allow_force_pushes,
            allow_deletions=allow_deletions,
        )
        with self.runtime.state.lock:
            self.runtime.state.protections[branch_key(repo.full_name, branch)] = protection
        return protection

    def unprotect_branch(self, full_name: str, branch: str) -> None:
        repo = self._repo(full_name)
        with self.runtime.state.lock:
            self.runtime.state.protections.pop(branch_key(repo.full_name, branch), None)

    def merge_pull(
        self,
        full_name: str,
        number: int,
        *,
        method: str = "merge",
        author: Author | None = None,
    ) -> str:
        """Merge an open pull request as GitHub's button does, past branch protection like
        an admin: a merge commit (`merge`) or one commit with the merged tree (`squash`).
        Returns the new head of the base branch, which is the pull's `merge_commit_sha`."""
        repo = self._repo(full_name)
        runtime = self.runtime
        state, git = runtime.state, runtime.git(repo)
        who = author or Author()
        with state.lock:
            pull = state.pulls.get(issue_key(repo.full_name, number))
            issue = state.issues.get(issue_key(repo.full_name, number))
            if pull is None or issue is None:
                raise KeyError(f"no pull request #{number} in {full_name}")
            if issue.state != "open":
                raise ValueError(f"pull request #{number} is not open")
            ref = HEADS + pull.base_ref
            base_sha = git.ref_target(ref)
            head_sha = git.ref_target(HEADS + pull.head_ref) or pull.head_sha
            if base_sha is None:
                raise ValueError(f"the base branch {pull.base_ref} is gone")
            tree = git.merge_trees(base_sha, head_sha)
            if tree is None:
                raise ValueError(f"pull request #{number} has conflicts")
            identity = GitIdentity.now(who.name, who.email)
            if method == "merge":
                message = f"Merge pull request #{number} from {repo.owner}/{pull.head_ref}"
                parents = [base_sha, head_sha]
            elif method == "squash":
                message = f"{issue.title} (#{number})"
                parents = [base_sha]
            else:
                raise ValueError(f"unsupported merge method {method!r} (merge or squash)")
            merged = git.write_commit(tree, parents, message, identity, identity)
            if not git.update_ref(ref, merged, base_sha):
                raise RuntimeError(f"{ref} moved while merging")
            now = utc_now()
            pull.head_sha = head_sha
            pull.merged_at = now
            pull.merge_commit_sha = merged
            issue.state, issue.state_reason = "closed", "completed"
            issue.closed_at = issue.updated_at = now
            repo.pushed_at = now
            return merged

    def create_environment(self, full_name: str, name: str) -> EnvironmentRecord:
        repo = self._repo(full_name)
        state = self.runtime.state
        with state.lock:
            key = branch_key(repo.full_name, name.lower())
            if key not in state.environments:
                now = utc_now()
                environment_id = state.next_id("environment")
                state.environments[key] = EnvironmentRecord(
                    environment_id, repo.full_name, name, now, now
                )
            return state.environments[key]

    # accounts and credentials -------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        emails: Iterable[str] = (),
        kind: str = "User",
    ) -> UserRecord:
        """An account; commits by any of its e-mails are linked to it in compare and commits."""
        state = self.runtime.state
        with state.lock:
            user = state.ensure_user(login, name=name, email=email, kind=kind)
            for extra in emails:
                if extra not in user.emails:
                    user.emails.append(extra)
            return user

    def register_token(self, login: str, token: str | None = None) -> str:
        """A personal access token acting as `login` (the account is created if needed)."""
        state = self.runtime.state
        with state.lock:
            state.ensure_user(login)
            value = token or new_token("ghp_")
            state.tokens[value] = TokenRecord(token=value, kind="user", login=login)
            return value

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """A collaborator's level: read, triage, write, maintain or admin."""
        repo = self._repo(full_name)
        state = self.runtime.state
        with state.lock:
            state.ensure_user(login)
            state.set_permission(repo, login, permission)

    def register_app(
        self,
        name: str = "deploy-guard",
        *,
        slug: str | None = None,
        owner: str = "sandbox-apps",
        permissions: Mapping[str, str] | None = None,
        events: Iterable[str] | None = None,
    ) -> AppCredentials:
        """A GitHub App with a fresh RSA key; the private key is only ever returned here."""
        private_pem, public_pem = generate_app_key()
        state = self.runtime.state
        with state.lock:
            state.ensure_user(owner, kind="Organization")
            app = AppRecord(
                id=state.next_id("app"),
                slug=slug or name.lower().replace(" ", "-"),
                name=name,
                owner=owner,
                public_key_pem=public_pem,
                client_id=f"Iv1.{secrets.token_hex(8)}",
                created_at=utc_now(),
                permissions=dict(permissions or GUARD_APP_PERMISSIONS),
                events=list(events if events is not None else GUARD_APP_EVENTS),
            )
            state.apps[app.id] = app
            state.ensure_user(f"{app.slug}[bot]", kind="Bot")
        return AppCredentials(app.id, app.slug, app.client_id, private_pem)

    def install_app(
        self,
        app_id: int,
        account: str,
        repositories: Iterable[str] | None = None,
        permissions: Mapping[str, str] | None = None,
    ) -> int:
        """Install an App on an account: on all its repositories, or only the named ones."""
        state = self.runtime.state
        with state.lock:
            app = state.apps.get(app_id)
            if app is None:
                raise KeyError(f"no App {app_id}")
            state.ensure_user(account)
            names = None
            if repositories is not None:
                names = [
                    self._repo(r if "/" in r else f"{account}/{r}").full_name for r in repositories
                ]
            installation = InstallationRecord(
                id=state.next_id("installation"),
                app_id=app.id,
                account=account,
                created_at=utc_now(),
                repositories=names,
                permissions=dict(permissions or app.permissions),
            )
            state.installations[installation.id] = installation
            return installation.id

    # faults, calls, conformance, clock ----------------------------------------------------

    def add_fault(
        self, kind: FaultKind | str, path: str = "*", method: str = "*", **options: Any
    ) -> Fault:
        """Misbehave on the next matching calls; see faults.FaultKind for what each kind does."""
        return self.runtime.faults.add(kind, path=path, method=method, **options)

    def release_held(self, fault_id: int | None = None) -> int:
        return self.runtime.faults.release(fault_id)

    def clear_faults(self) -> None:
        self.runtime.faults.clear()

    @property
    def calls(self) -> CallLog:
        return self.runtime.calls

    def violations(self) -> list[Violation]:
        return self.runtime.violations.all()

    def crashes(self) -> list[str]:
        return list(self.runtime.crashes)

    def clear_violations(self) -> None:
        """Forget recorded violations and crashes (after a test provoked them on purpose)."""
        self.runtime.violations.clear()
        self.runtime.crashes.clear()

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until queued webhook deliveries are done; True at once when webhooks are off."""
        sender = self.runtime.webhooks
        return True if sender is None else sender.flush(timeout)

    def deliveries(self) -> list[Delivery]:
        """Webhook deliveries made so far (guid, event, action, receiver status or error)."""
        sender = self.runtime.webhooks
        return [] if sender is None else list(sender.deliveries)

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's clock (token and JWT expiry) forward without waiting."""
        self.runtime.clock.advance(seconds)

    def save(self) -> None:
        self.runtime.save()

    # read-back ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the sandbox holds, as plain data (App keys and token values left out)."""
        state = self.runtime.state
        with state.lock:
            data: dict[str, Any] = state.to_json()["tables"]
            data["tokens"] = [
                {"kind": t["kind"], "login": t["login"], "installation_id": t["installation_id"]}
                for t in data["tokens"]
            ]
            for app in data["apps"]:
                app.pop("public_key_pem", None)
            data["branches"] = {
                repo.full_name: dict(self.runtime.git(repo).list_refs("refs/"))
                for repo in state.repos.values()
            }
            return data

    def reviews(self) -> list[dict[str, Any]]:
        with self.runtime.state.lock:
            return [
                asdict(r) for r in sorted(self.runtime.state.reviews.values(), key=lambda r: r.id)
            ]

    def dispatches(self) -> list[dict[str, Any]]:
        with self.runtime.state.lock:
            records = sorted(self.runtime.state.dispatches.values(), key=lambda r: r.id)
            return [asdict(r) for r in records]
