"""A world for the gate and ChatOps tests: the GitHub sandbox over HTTP, a migrated database,
the guard's App installed, and a clock the test sets.

Nothing of GitHub is faked: follow-ups talk HTTP to `guard.sandbox.Sandbox` as the App.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from guard.gate.background import Means, Work, send_followup
from guard.github.auth import AppAuth, TokenAuth
from guard.github.client import GitHubClient
from guard.github.retry import Retrier, RetryPolicy
from guard.outcomes import Severity, VerdictKind
from guard.sandbox import AppCredentials, Author, Sandbox
from guard.service.intake import PendingJobs
from guard.settings import Settings, load_settings
from guard.store import (
    Deployment,
    Incident,
    KnownBadSha,
    TimelineEvent,
    Verification,
    VerificationState,
    make_engine,
    make_session_factory,
    record_deployment,
    upgrade,
)
from tests.oidc_issuer import Clock

REPO = "octo-org/shop"
REPO_URL = "https://github.com/octo-org/shop"
POLICY_PATH = ".github/deploy-guard.yml"
PUBLIC_URL = "https://guard.example.test"
DEVELOPER = Author(name="Mona Lisa", email="mona@example.com", login="mona")
# Fri 27 Nov 2026 10:00 UTC: a working Friday morning in Berlin.
FRIDAY_MORNING = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()

POLICY = """\
version: 1
environments:
  production:
    gate:
      block_while_incident_open: true
      freeze:
        - from: "Fri 16:00"
          to: "Mon 08:00"
          timezone: Europe/Berlin
  staging: {}
"""


@dataclass
class PlainQueue:
    """A job queue that runs no follow-ups (as guard.jobs' was before its hook)."""

    verifications: list[int] = field(default_factory=list)

    def enqueue_verification(self, deployment_id: int) -> None:
        self.verifications.append(deployment_id)

    def enqueue_supersede(
        self, repository: str, environment: str, newer_deployment_id: int
    ) -> None:
        return None

    def ping(self) -> bool:
        return True


@dataclass
class RecordingFollowUps:
    """A job queue that records what it was asked, follow-ups included."""

    verifications: list[int] = field(default_factory=list)
    supersedes: list[tuple[str, str, int]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)

    def enqueue_verification(self, deployment_id: int) -> None:
        self.verifications.append(deployment_id)

    def enqueue_supersede(
        self, repository: str, environment: str, newer_deployment_id: int
    ) -> None:
        self.supersedes.append((repository, environment, newer_deployment_id))

    def enqueue_followup(self, work: Work) -> None:
        self.followups.append(dict(work))

    def ping(self) -> bool:
        return True


@dataclass
class GateWorld:
    """The sandbox with the shop and our App, the database, the clock and what was slept."""

    sandbox: Sandbox
    app: AppCredentials
    installation_id: int
    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    queue: RecordingFollowUps
    slept: list[float] = field(default_factory=list)
    _auth: AppAuth | None = None

    @property
    def auth(self) -> AppAuth:
        if self._auth is None:
            self._auth = AppAuth(
                self.app.app_id,
                self.app.private_key_pem,
                api_url=self.sandbox.base_url,
                retrier=Retrier(sleep=self.slept.append),
            )
        return self._auth

    def client(self, installation_id: int | None) -> GitHubClient:
        return GitHubClient(
            self.auth,
            self.sandbox.base_url,
            installation_id=installation_id,
            sleep=self.slept.append,
            retry_policy=RetryPolicy(max_attempts=4, max_total_wait_s=600),
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def means(self) -> Means:
        return Means(
            sessions=self.sessions,
            github=self.client,
            settings=self.settings,
            clock=self.clock,
            verifications=self.queue,
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @property
    def head(self) -> str:
        sha = self.sandbox.branch_sha(REPO)
        assert sha is not None
        return sha

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def record_deployment(
        self, github_id: int, sha: str | None = None, environment: str = "production"
    ) -> int:
        with self.session() as session:
            row, _ = record_deployment(
                session,
                repository=REPO,
                github_id=github_id,
                environment=environment,
                sha=sha or self.head,
                ref="main",
                created_at=self.now(),
                installation_id=self.installation_id,
            )
            return row.id

    def open_incident(
        self, deployment_row: int, environment: str = "production", issue_number: int = 7
    ) -> None:
        with self.session() as session:
            session.add(
                Incident(
                    deployment_id=deployment_row,
                    repository=REPO,
                    environment=environment,
                    code="INC-20261127-001",
                    severity=Severity.P1,
                    issue_number=issue_number,
                    issue_url=f"{REPO_URL}/issues/{issue_number}",
                    opened_at=self.now(),
                )
            )

    def mark_known_bad(self, sha: str, deployment_row: int | None = None) -> None:
        with self.session() as session:
            session.add(
                KnownBadSha(
                    repository=REPO,
                    sha=sha,
                    deployment_id=deployment_row,
                    reason="smoke check home page failed",
                    recorded_at=self.now(),
                )
            )

    def finished_verification(self, deployment_row: int, verdict: VerdictKind | None = None) -> int:
        with self.session() as session:
            row = Verification(
                deployment_id=deployment_row,
                attempt=1,
                environment="production",
                state=VerificationState.FINISHED,
                verdict=verdict,
                created_at=self.now(),
            )
            session.add(row)
            session.flush()
            return row.id

    def timeline(self) -> list[tuple[str, str]]:
        with self.session() as session:
            rows = session.scalars(sa.select(TimelineEvent).order_by(TimelineEvent.id)).all()
            return [(row.kind, row.message) for row in rows]

    def deployments(self) -> list[Deployment]:
        with self.session() as session:
            return list(session.scalars(sa.select(Deployment).order_by(Deployment.id)).all())

    def owner_client(self) -> GitHubClient:
        """The repository owner's own client: how people and pipelines act on GitHub."""
        return GitHubClient(
            TokenAuth(self.sandbox.register_token("octo-org")),
            self.sandbox.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def new_issue(self, title: str = "INC-20261127-001: production is failing") -> int:
        """An issue filed by the repository's owner (comments need an issue to go on)."""
        owner = self.owner_client()
        try:
            return owner.create_issue(REPO, title, "The guard's incident.").number
        finally:
            owner.close()

    def comments(self, number: int) -> list[str]:
        issues: list[dict[str, Any]] = self.sandbox.snapshot()["comments"]
        return [c["body"] for c in issues if c.get("issue_number") == number]


def world_environment(sandbox: Sandbox, app: AppCredentials, database_url: str) -> dict[str, str]:
    return {
        "GUARD_GITHUB_APP_ID": str(app.app_id),
        "GUARD_GITHUB_PRIVATE_KEY": app.private_key_pem,
        "GUARD_GITHUB_API_URL": sandbox.base_url,
        "GUARD_DATABASE_URL": database_url,
        "GUARD_QUEUE_URL": f"sqlite:///{database_url.removeprefix('sqlite:///')}-queue",
        "GUARD_PUBLIC_URL": PUBLIC_URL,
        "GUARD_WEBHOOK_SECRET": "a webhook secret for tests",
    }


@contextmanager
def gate_world(
    tmp_path: Path,
    files: Mapping[str, str] | None = None,
    *,
    extra_environment: Mapping[str, str] | None = None,
) -> Iterator[GateWorld]:
    """A strict sandbox (answers checked against GitHub's description) with the shop's
    repository and policy, the App installed, the database migrated; all stopped after."""
    database_url = f"sqlite:///{tmp_path / 'guard.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    repository_files = {"README.md": "# shop\n", POLICY_PATH: POLICY, **(files or {})}
    try:
        with Sandbox(strict=True) as sandbox:
            sandbox.create_repo(REPO, repository_files, author=DEVELOPER)
            app = sandbox.register_app("deploy-guard")
            installation_id = sandbox.install_app(app.app_id, "octo-org", [REPO])
            environ = world_environment(sandbox, app, database_url)
            environ.update(extra_environment or {})
            settings = load_settings(environ)
            yield GateWorld(
                sandbox,
                app,
                installation_id,
                settings,
                make_session_factory(engine),
                Clock(FRIDAY_MORNING),
                RecordingFollowUps(),
            )
            violations = [f"{v.method} {v.path}: {v.message}" for v in sandbox.violations()]
            assert violations == [], violations
            assert sandbox.crashes() == []
    finally:
        engine.dispose()


def _pending_enqueue_followup(self: PendingJobs, work: Work) -> None:
    # Exactly the method the report asks to add to guard.service.intake.PendingJobs.
    self._jobs.append(lambda queue: send_followup(queue, work))


def hook_pending_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the service's PendingJobs the follow-up hook, as the lead will in intake.py."""
    if not hasattr(PendingJobs, "enqueue_followup"):
        monkeypatch.setattr(
            PendingJobs, "enqueue_followup", _pending_enqueue_followup, raising=False
        )
