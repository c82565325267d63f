"""Everything the sandbox remembers outside git, behind one lock, saved to and loaded from disk."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guard.sandbox import models
from guard.sandbox.models import (
    AppRecord,
    CheckRunRecord,
    CommentRecord,
    CommitStatusRecord,
    DeploymentRecord,
    DeploymentStatusRecord,
    DispatchRecord,
    EnvironmentRecord,
    InstallationRecord,
    IssueRecord,
    LabelRecord,
    ProtectionRecord,
    PullRecord,
    RepoRecord,
    ReviewRecord,
    TokenRecord,
    UserRecord,
)

STATE_FILE = "state.json"
NOREPLY_DOMAIN = "users.noreply.github.com"
STATE_VERSION = 1


def utc_now() -> str:
    """GitHub's timestamp format: UTC, whole seconds, trailing Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue_key(repo: str, number: int) -> str:
    return f"{repo}#{number}"


def branch_key(repo: str, name: str) -> str:
    return f"{repo}:{name}"


# table name -> (record class, key of a record). The JSON file stores each table as a list.
_TABLES: dict[str, tuple[type[Any], Callable[[Any], Any]]] = {
    "users": (UserRecord, lambda r: r.login.lower()),
    "repos": (RepoRecord, lambda r: r.full_name.lower()),
    "protections": (ProtectionRecord, lambda r: branch_key(r.repo, r.branch)),
    "environments": (EnvironmentRecord, lambda r: branch_key(r.repo, r.name.lower())),
    "labels": (LabelRecord, lambda r: branch_key(r.repo, r.name.lower())),
    "issues": (IssueRecord, lambda r: issue_key(r.repo, r.number)),
    "pulls": (PullRecord, lambda r: issue_key(r.repo, r.number)),
    "comments": (CommentRecord, lambda r: r.id),
    "deployments": (DeploymentRecord, lambda r: r.id),
    "deployment_statuses": (DeploymentStatusRecord, lambda r: r.id),
    "check_runs": (CheckRunRecord, lambda r: r.id),
    "commit_statuses": (CommitStatusRecord, lambda r: r.id),
    "apps": (AppRecord, lambda r: r.id),
    "installations": (InstallationRecord, lambda r: r.id),
    "tokens": (TokenRecord, lambda r: r.token),
    "reviews": (ReviewRecord, lambda r: r.id),
    "dispatches": (DispatchRecord, lambda r: r.id),
}


class SandboxState:
    """The in-memory tables. Hold `lock` while reading or changing them; ids only ever increase."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.counters: dict[str, int] = {}
        self.users: dict[str, UserRecord] = {}
        self.repos: dict[str, RepoRecord] = {}
        self.protections: dict[str, ProtectionRecord] = {}
        self.environments: dict[str, EnvironmentRecord] = {}
        self.labels: dict[str, LabelRecord] = {}
        self.issues: dict[str, IssueRecord] = {}
        self.pulls: dict[str, PullRecord] = {}
        self.comments: dict[int, CommentRecord] = {}
        self.deployments: dict[int, DeploymentRecord] = {}
        self.deployment_statuses: dict[int, DeploymentStatusRecord] = {}
        self.check_runs: dict[int, CheckRunRecord] = {}
        self.commit_statuses: dict[int, CommitStatusRecord] = {}
        self.apps: dict[int, AppRecord] = {}
        self.installations: dict[int, InstallationRecord] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.reviews: dict[int, ReviewRecord] = {}
        self.dispatches: dict[int, DispatchRecord] = {}

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self.counters.get(kind, 0) + 1
            self.counters[kind] = value
            return value

    # lookups ------------------------------------------------------------------------------

    def repo(self, full_name: str) -> RepoRecord | None:
        return self.repos.get(full_name.lower())

    def user(self, login: str) -> UserRecord | None:
        return self.users.get(login.lower())

    def ensure_user(
        self, login: str, *, name: str | None = None, email: str | None = None, kind: str = "User"
    ) -> UserRecord:
        with self.lock:
            existing = self.user(login)
            if existing is not None:
                if email and email not in existing.emails:
                    existing.emails.append(email)
                if existing.email is None and email:
                    existing.email = email
                return existing
            record = UserRecord(
                id=self.next_id("user"),
                login=login,
                created_at=utc_now(),
                name=name,
                email=email,
                type=kind,
                emails=[email] if email else [],
            )
            self.users[login.lower()] = record
            return record

    def user_for_email(self, email: str) -> UserRecord | None:
        """The account a commit e-mail belongs to, as GitHub links commit authors to users.

        `<id>+<login>@users.noreply.github.com` addresses (what GitHub itself writes for Apps and
        users who hide their e-mail) belong to <login>.
        """
        wanted = email.lower()
        local, _, domain = wanted.partition("@")
        if domain == NOREPLY_DOMAIN and "+" in local:
            by_login = self.user(local.split("+", 1)[1])
            if by_login is not None:
                return by_login
        for user in self.users.values():
            if any(known.lower() == wanted for known in user.emails):
                return user
        return None

    def protection(self, repo: str, branch: str) -> ProtectionRecord | None:
        return self.protections.get(branch_key(repo, branch))

    def permission(self, repo: RepoRecord, login: str) -> str | None:
        if login.lower() == repo.owner.lower():
            return "admin"
        return repo.collaborators.get(login.lower())

    def set_permission(self, repo: RepoRecord, login: str, level: str) -> None:
        if level not in models.PERMISSION_LEVELS:
            raise ValueError(f"permission must be one of {', '.join(models.PERMISSION_LEVELS)}")
        repo.collaborators[login.lower()] = level

    # persistence --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            tables = {name: [asdict(r) for r in getattr(self, name).values()] for name in _TABLES}
            return {"version": STATE_VERSION, "counters": dict(self.counters), "tables": tables}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxState:
        state = cls()
        state.counters = {str(k): int(v) for k, v in data.get("counters", {}).items()}
        for name, (record_class, key_of) in _TABLES.items():
            known = {f.name for f in fields(record_class)}
            table = getattr(state, name)
            for raw in data.get("tables", {}).get(name, []):
                record = record_class(**{k: v for k, v in raw.items() if k in known})
                table[key_of(record)] = record
        return state

    def save(self, data_dir: Path) -> None:
        """Write state.json atomically, so a crash never leaves half a file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))
        os.replace(temporary, data_dir / STATE_FILE)

    @classmethod
    def load(cls, data_dir: Path) -> SandboxState:
        path = data_dir / STATE_FILE
        if not path.exists():
            return cls()
        return cls.from_json(json.loads(path.read_text()))
