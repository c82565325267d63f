"""A world for the remedy tests: the strict GitHub sandbox over HTTP, real git, a migrated database.

The shop's history: `v1.3.2` deployed and verified good, then a commit that breaks checkout
deployed to production. Remedies talk HTTP to the sandbox as the installed App; the pipeline's
deployments are made with the owner's personal token, as a workflow would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from guard.github.auth import AppAuth, TokenAuth
from guard.github.client import GitHubClient
from guard.github.models import DeploymentRef, DeploymentState
from guard.github.retry import Retrier, RetryPolicy
from guard.outcomes import VerdictKind
from guard.policy.models import Rollback
from guard.remedies import FailedDeployment, RemedyContext, RemedyRequest
from guard.sandbox import AppCredentials, Author, Sandbox
from guard.store import (
    Deployment,
    Remedy,
    TimelineEvent,
    Verification,
    VerificationState,
    make_engine,
    make_session_factory,
    record_deployment,
    upgrade,
)
from tests.sandbox_fixtures import assert_conformant

REPO = "octo-org/shop"
ENVIRONMENT = "production"
RUN_URL = "https://guard.example.test/runs/7"
GOOD_FILES = {
    "README.md": "# shop\n",
    "app/checkout.py": "def checkout(cart):\n    return sum(cart)\n",
    "app/version.txt": "1.3.2\n",
}
BAD_CHANGE = {"app/checkout.py": "def checkout(cart):\n    raise RuntimeError('broken')\n"}
DEVELOPER = Author(name="Mona Lisa", email="mona@example.com", login="mona")
REASON = "Smoke check home page answered HTTP 503 (expected 200) in 120 ms."
DEPLOYMENTS = f"/repos/{REPO}/deployments"


@dataclass
class RemedyWorld:
    """The sandbox, the database, and the shop's good and bad commits and deployments."""

    sandbox: Sandbox
    app: AppCredentials
    installation_id: int
    owner_token: str
    sessions: sessionmaker[Session]
    workdir: Path
    good_sha: str
    bad_sha: str
    slept: list[float] = field(default_factory=list)

    @property
    def git_dir(self) -> Path:
        return self.sandbox.git_dir(REPO)

    def client(self, **options: Any) -> GitHubClient:
        """The App's client: no pacing, retry waits recorded (or done by `sleep`)."""
        sleep = options.pop("sleep", self.slept.append)
        auth = AppAuth(
            self.app.app_id,
            self.app.private_key_pem,
            api_url=self.sandbox.base_url,
            retrier=Retrier(sleep=sleep),
        )
        settings: dict[str, Any] = {
            "installation_id": self.installation_id,
            "sleep": sleep,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
            "retry_policy": RetryPolicy(max_total_wait_s=600),
        }
        settings.update(options)
        return GitHubClient(auth, self.sandbox.base_url, **settings)

    def pipeline(self) -> GitHubClient:
        """What a deploy workflow uses: the owner's token."""
        return GitHubClient(
            TokenAuth(self.owner_token),
            self.sandbox.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def context(self, github: Any = None, **options: Any) -> RemedyContext:
        return RemedyContext(
            github=github or self.client(),
            sessions=self.sessions,
            git_url=self.sandbox.base_url,
            workdir=self.workdir,
            **options,
        )

    def deploy(
        self,
        ref: str,
        *states: DeploymentState,
        environment: str = ENVIRONMENT,
        payload: dict[str, Any] | None = None,
    ) -> DeploymentRef:
        """A deployment made by the pipeline, with its statuses in order (default: success)."""
        pipeline = self.pipeline()
        try:
            made = pipeline.create_deployment(REPO, ref, environment, payload=payload)
            for state in states or ("success",):
                pipeline.create_deployment_status(REPO, made.id, state, description=state)
        finally:
            pipeline.close()
        return made

    def record(self, deployment: DeploymentRef, verdict: VerdictKind | None, **columns: Any) -> int:
        """The guard's rows for a deployment, and a finished verification with `verdict`."""
        with self.sessions.begin() as session:
            row, _ = record_deployment(
                session,
                repository=REPO,
                github_id=deployment.id,
                environment=deployment.environment,
                sha=deployment.sha,
                ref=deployment.ref,
                created_at=deployment.created_at,
                installation_id=self.installation_id,
                **columns,
            )
            if verdict is not None:
                session.add(
                    Verification(
                        deployment_id=row.id,
                        environment=deployment.environment,
                        state=VerificationState.FINISHED,
                        verdict=verdict,
                    )
                )
            return row.id

    def request(self, failed: DeploymentRef, **options: Any) -> RemedyRequest:
        rollback = options.pop("rollback", None) or Rollback(
            strategy=options.pop("strategy", "redeploy"), **options.pop("targets", {})
        )
        return RemedyRequest(
            repo=REPO,
            failed=FailedDeployment.from_github(
                failed, self.client().own_identity, self.installation_id
            ),
            rollback=rollback,
            reasons=options.pop("reasons", (REASON,)),
            run_url=RUN_URL,
            **options,
        )

    # -- reading back ----------------------------------------------------------------------
    def listed(self, deployment_id: int, environment: str = ENVIRONMENT) -> DeploymentRef:
        """A deployment as the port lists it."""
        pipeline = self.pipeline()
        try:
            found = pipeline.list_deployments(REPO, environment)
        finally:
            pipeline.close()
        return next(d for d in found if d.id == deployment_id)

    def deployments(self) -> list[Any]:
        return sorted(self.sandbox.runtime.state.deployments.values(), key=lambda d: d.id)

    def statuses(self, deployment_id: int) -> list[Any]:
        statuses = self.sandbox.runtime.state.deployment_statuses.values()
        return sorted((s for s in statuses if s.deployment_id == deployment_id), key=lambda s: s.id)

    def pulls(self) -> list[Any]:
        return sorted(self.sandbox.runtime.state.pulls.values(), key=lambda p: p.number)

    def writes(self, since: int = 0) -> list[str]:
        """Every call that could change GitHub (REST or git push), as `METHOD path`."""
        return [
            f"{call.method} {call.path}"
            for call in self.sandbox.calls.all(since)
            if call.method != "GET"
            and not call.path.endswith("/git-upload-pack")
            and not call.path.startswith("/app/installations/")
        ]

    def remedies(self) -> list[Remedy]:
        with self.sessions() as session:
            return list(session.scalars(sa.select(Remedy).order_by(Remedy.id)))

    def timeline(self, deployment_id: int) -> list[tuple[str, str]]:
        with self.sessions() as session:
            row = session.scalars(
                sa.select(Deployment).where(Deployment.github_id == deployment_id)
            ).one()
            events = session.scalars(
                sa.select(TimelineEvent)
                .where(TimelineEvent.deployment_id == row.id)
                .order_by(TimelineEvent.id)
            )
            return [(event.kind, event.message) for event in events]

    def row(self, deployment_id: int) -> Deployment | None:
        with self.sessions() as session:
            return session.scalars(
                sa.select(Deployment).where(Deployment.github_id == deployment_id)
            ).first()

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def same_tree(self, left: str, right: str) -> bool:
        """`git diff --quiet` in the sandbox's bare repository: exit 0 means no difference."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "diff", "--quiet", left, right], check=False
        )
        assert done.returncode in (0, 1), done
        return done.returncode == 0


def releasing_sleep(world: RemedyWorld) -> Callable[[float], None]:
    """A retry wait during which held requests finish: GitHub did the work after all."""

    def sleep(seconds: float) -> None:
        world.slept.append(seconds)
        faults = world.sandbox.runtime.faults
        if faults.held:
            answered = world.sandbox.calls.last_seq
            world.sandbox.release_held()
            # Wait for the released call's answer to be logged, not for time to pass.
            assert world.sandbox.calls.wait_for(answered + 1)

    return sleep


def an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


@contextmanager
def remedy_world(database_url: str, workdir: Path) -> Iterator[RemedyWorld]:
    """The shop with `v1.3.2` verified good and a bad commit on main deployed and failed."""
    upgrade(database_url)
    engine = make_engine(database_url)
    with Sandbox(strict=True) as sandbox:
        sandbox.add_user("mona", name=DEVELOPER.name, email=DEVELOPER.email)
        sandbox.create_repo(REPO, GOOD_FILES, author=DEVELOPER)
        good = sandbox.branch_sha(REPO)
        assert good is not None
        sandbox.create_tag(REPO, "v1.3.2", good)
        bad = sandbox.commit(REPO, BAD_CHANGE, "Speed up checkout", author=DEVELOPER)
        app = sandbox.register_app("deploy-guard")
        installation_id = sandbox.install_app(app.app_id, "octo-org", [REPO])
        owner_token = sandbox.register_token("octo-org")
        workdir.mkdir(parents=True, exist_ok=True)
        world = RemedyWorld(
            sandbox,
            app,
            installation_id,
            owner_token,
            make_session_factory(engine),
            workdir,
            good,
            bad,
        )
        yield world
        assert_conformant(sandbox)
    engine.dispose()
