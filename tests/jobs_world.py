"""A world for the job tests: the GitHub sandbox over HTTP, the example shop, a migrated database.

Nothing of GitHub is faked: the guard's workers talk HTTP to `guard.sandbox.Sandbox` as an
installed App, and the tests read back what the sandbox recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from guard.demo.example_service import ExampleService
from guard.github.auth import TokenAuth
from guard.github.client import GitHubClient
from guard.jobs.options import WorkerOptions
from guard.sandbox import AppCredentials, Author, Sandbox
from guard.settings import Settings, load_settings
from guard.store import (
    Deployment,
    ProbeResultRow,
    TimelineEvent,
    Verification,
    record_deployment,
    upgrade,
)
from tests.guard_world import GuardWorld

T = TypeVar("T")

REPO = "octo-org/shop"
POLICY_PATH = ".github/deploy-guard.yml"
PUBLIC_URL = "https://guard.example.test"
DEVELOPER = Author(name="Mona Lisa", email="mona@example.com", login="mona")
# Bounded polling: a test waits for the database state, never for a fixed time.
DEADLINE_S = 60.0
POLL_S = 0.02

# Short rounds so a whole watch takes a second; the shop answers in milliseconds.
POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
        timeout: 2s
        expect:
          status: 200
          body_contains: Add to cart
      - name: api health
        get: /api/health
        timeout: 2s
        expect:
          status: 200
    watch:
      interval: {interval}
      duration: {duration}
      probes:
        - name: health
          get: /health
          timeout: 2s
          expect: {{status: 200}}
      fail_when:
        consecutive_failures: 2
      min_samples: 1
    on_failure:
      action: rollback
      rollback:
        strategy: redeploy
"""


def policy_text(interval: str = "100ms", duration: str = "300ms", **extra: str) -> str:
    text = POLICY.format(interval=interval, duration=duration)
    for key, value in extra.items():
        text = text.replace("version: 1\n", f"version: 1\n{key}: {value}\n", 1)
    return text


FAST = WorkerOptions(
    threads=2,
    tick_s=0.05,
    reconcile_every_s=0.5,
    grace_s=0.5,
    lease_s=1.0,
    github_pacing=False,
    shutdown_timeout_s=10.0,
)


def wait_for(what: str, check: Callable[[], T | None], deadline_s: float = DEADLINE_S) -> T:
    """Poll `check` until it returns something truthy, and return that; fail at the deadline."""
    give_up = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class JobsWorld(GuardWorld):
    """The sandbox with the shop's repository and our App installed, the shop, the database."""

    sandbox: Sandbox
    service: ExampleService
    app: AppCredentials
    installation_id: int
    owner_token: str
    database_url: str
    queue_url: str

    def environ(self, *, token: str | None = None, **overrides: str) -> dict[str, str]:
        """The GUARD_* variables a worker process of this world runs with: as the installed
        App, or with a plain `token` instead."""
        variables = self.app_variables()
        if token:
            del variables["GUARD_GITHUB_APP_ID"], variables["GUARD_GITHUB_PRIVATE_KEY"]
            variables["GUARD_GITHUB_TOKEN"] = token
        variables |= {
            # The shop listens on loopback, which the service refuses by default.
            "GUARD_ALLOW_PRIVATE_NETWORKS": "true",
            "GUARD_PUBLIC_URL": PUBLIC_URL,
        }
        variables.update(overrides)
        return variables

    def settings(self, *, token: str | None = None, **overrides: str) -> Settings:
        return load_settings(self.environ(token=token, **overrides), require_webhook_secret=False)

    def owner_client(self) -> GitHubClient:
        """The repository owner's own client: how a pipeline creates deployments."""
        return GitHubClient(
            TokenAuth(self.owner_token),
            self.sandbox.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def commit(self, files: Mapping[str, str | None], branch: str | None = None) -> str:
        return self.sandbox.commit(REPO, files, "Change files", branch=branch, author=DEVELOPER)

    def deploy(
        self,
        sha: str | None = None,
        *,
        environment: str = "production",
        environment_url: str | None = None,
    ) -> int:
        """Deploy a commit on GitHub (a success status with the URL) and record it like the
        webhook handler does; the GitHub deployment id."""
        sha = sha or self.sandbox.branch_sha(REPO)
        assert sha is not None
        url = environment_url or self.service.url
        client = self.owner_client()
        try:
            created = client.create_deployment(REPO, sha, environment)
            client.create_deployment_status(
                REPO, created.id, "success", environment_url=url, environment=environment
            )
        finally:
            client.close()
        with self.session() as session, session.begin():
            record_deployment(
                session,
                repository=REPO,
                github_id=created.id,
                environment=environment,
                sha=sha,
                ref=sha,
                created_at=datetime.now(UTC),
                installation_id=self.installation_id,
                environment_url=url,
            )
        return created.id

    def results(self, verification_id: int) -> list[tuple[int, str]]:
        """(round, check) of every stored probe result."""
        with self.session() as session:
            rows = session.execute(
                sa.select(ProbeResultRow.round, ProbeResultRow.name)
                .where(ProbeResultRow.verification_id == verification_id)
                .order_by(ProbeResultRow.round, ProbeResultRow.name)
            ).all()
        return [(number, name) for number, name in rows]

    def timeline(self, deployment_id: int) -> list[tuple[str, str]]:
        """(kind, message) of everything noted on a deployment and its verifications."""
        with self.session() as session:
            row = session.scalars(
                sa.select(Deployment).where(Deployment.github_id == deployment_id)
            ).one()
            ids = session.scalars(
                sa.select(Verification.id).where(Verification.deployment_id == row.id)
            ).all()
            events = session.scalars(
                sa.select(TimelineEvent)
                .where(
                    sa.or_(
                        TimelineEvent.deployment_id == row.id,
                        TimelineEvent.verification_id.in_(ids),
                    )
                )
                .order_by(TimelineEvent.id)
            ).all()
        return [(event.kind, event.message) for event in events]

    def check_runs(self, sha: str | None = None) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.sandbox.snapshot()["check_runs"]
        return [run for run in runs if sha is None or run["head_sha"] == sha]

    def deployment_statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        statuses: list[dict[str, Any]] = self.sandbox.snapshot()["deployment_statuses"]
        return [s for s in statuses if s["deployment_id"] == deployment_id]


@contextmanager
def jobs_world(
    tmp_path: Path,
    files: Mapping[str, str] | None = None,
    *,
    database_url: str | None = None,
    queue_url: str | None = None,
) -> Iterator[JobsWorld]:
    """The sandbox (strict: answers checked against GitHub's description), the shop at v1,
    and the database migrated; everything stopped afterwards."""
    repository_files = {"README.md": "# shop\n", POLICY_PATH: policy_text()}
    repository_files.update(files or {})
    database_url = database_url or f"sqlite:///{tmp_path / 'guard.db'}"
    queue_url = queue_url or f"sqlite:///{tmp_path / 'guard-queue.db'}"
    upgrade(database_url)
    with Sandbox(strict=True) as sandbox, ExampleService() as service:
        sandbox.create_repo(REPO, repository_files, author=DEVELOPER)
        app = sandbox.register_app("deploy-guard")
        installation_id = sandbox.install_app(app.app_id, "octo-org", [REPO])
        token = sandbox.register_token("octo-org")
        yield JobsWorld(sandbox, service, app, installation_id, token, database_url, queue_url)
        violations = [f"{v.method} {v.path}: {v.message}" for v in sandbox.violations()]
        assert violations == [], violations
        assert sandbox.crashes() == []
