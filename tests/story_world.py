"""A world for the story tests: one bad deployment, from the pipeline's deploy to the incident.

Everything is real and talks HTTP: the GitHub sandbox (strict, real git) sends its `deployment`
and `deployment_status` webhooks, signed, to the guard's Flask service on a local port; the
service records them and queues jobs; worker threads (or a `story_worker` process) verify the
example shop, roll back through the sandbox and file the incident there. The pipeline is played
with the owner's token: it creates deployments and, when it ships one, reports `success`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from werkzeug.serving import BaseWSGIServer, make_server

from guard.demo.example_service import ExampleService, QuietRequestHandler
from guard.github.auth import AppAuth, TokenAuth
from guard.github.client import GitHubClient
from guard.github.retry import RetryPolicy
from guard.jobs.consumer import EmbeddedWorkers, start_embedded_workers
from guard.jobs.context import GitHubFactory, JobContext, build_context
from guard.jobs.deliveries import DeliveryDispatcher
from guard.jobs.job import Job
from guard.jobs.queue import JobQueue, make_queue
from guard.jobs.records import load
from guard.jobs.steps import VerificationJobs
from guard.outcomes import VerdictKind
from guard.sandbox import AppCredentials, Author, FaultKind, Sandbox
from guard.service.app import close_app, create_app
from guard.settings import Settings, load_settings
from guard.store import (
    Incident,
    KnownBadSha,
    Remedy,
    Verification,
    VerificationState,
    upgrade,
)
from tests.guard_world import GuardWorld, Unscheduled
from tests.jobs_world import FAST, wait_for
from tests.sandbox_fixtures import assert_conformant

REPO = "octo-org/shop"
ENVIRONMENT = "production"
POLICY_PATH = ".github/deploy-guard.yml"
PUBLIC_URL = "https://guard.example.test"
SECRET = "a webhook secret for the story"
DEVELOPER = Author(name="Mona Lisa", email="mona@example.com", login="mona")
GOOD_TAG = "v1.3.2"
BAD_SUBJECT = "Speed up checkout"
# Worker pacing for tests: short leases and takeovers, a remedy budget far above its needs.
STORY = replace(FAST, remedy_s=30.0, takeover_after_s=30.0)

POLICY = """\
version: 1
mode: {mode}
environments:
  production:
    smoke:
      - name: home page
        get: /
        timeout: 2s
        expect: {{status: 200, body_contains: Add to cart}}
      - name: api health
        get: /api/health
        timeout: 2s
        expect: {{status: 200}}
    watch:
      interval: 100ms
      duration: 300ms
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
        strategy: {strategy}
      incident:
        labels: [incident]
"""


def policy(strategy: str = "redeploy", mode: str = "enforce") -> str:
    return POLICY.format(strategy=strategy, mode=mode)


class LateApp:
    """A WSGI app set after the server listens: the sandbox needs the webhook URL first."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class Story(GuardWorld):
    """The sandbox, the shop, the guard's service and database, and the shop's history."""

    sandbox: Sandbox
    shop: ExampleService
    app: AppCredentials
    installation_id: int
    owner_token: str
    database_url: str
    queue_url: str
    queue_name: str
    good_sha: str = ""
    bad_sha: str = ""
    pull_number: int = 0

    # -- the guard's configuration -----------------------------------------------------------
    def environ(self, **overrides: str) -> dict[str, str]:
        variables = {
            **self.app_variables(),
            "GUARD_WEBHOOK_SECRET": SECRET,
            # The shop listens on loopback, which the guard refuses by default.
            "GUARD_ALLOW_PRIVATE_NETWORKS": "true",
            "GUARD_PUBLIC_URL": PUBLIC_URL,
            "GUARD_LOG_FORMAT": "text",
        }
        variables.update(overrides)
        return variables

    def settings(self, **overrides: str) -> Settings:
        return load_settings(self.environ(**overrides))

    def queue(self, **options: Any) -> JobQueue:
        return make_queue(self.settings(), name=self.queue_name, **options)

    # -- the pipeline --------------------------------------------------------------------------
    def pipeline(self) -> GitHubClient:
        return GitHubClient(
            TokenAuth(self.owner_token),
            self.sandbox.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def create_deployment(self, ref: str) -> int:
        """A deployment the pipeline starts (its `deployment` webhook goes to the guard)."""
        pipeline = self.pipeline()
        try:
            return pipeline.create_deployment(REPO, ref, ENVIRONMENT).id
        finally:
            pipeline.close()

    def ship(self, deployment_id: int, version: str) -> None:
        """The pipeline's deploy job: the shop runs `version`, and GitHub hears `success`."""
        self.shop.deploy(version)
        pipeline = self.pipeline()
        try:
            pipeline.create_deployment_status(
                REPO,
                deployment_id,
                "success",
                environment_url=self.shop.url,
                environment=ENVIRONMENT,
            )
        finally:
            pipeline.close()

    def deploy(self, ref: str, version: str) -> int:
        deployment_id = self.create_deployment(ref)
        self.ship(deployment_id, version)
        return deployment_id

    def deploy_good(self) -> int:
        """v1.3.2 deployed and verified good: the guard's own record of a good ref."""
        deployment_id = self.deploy(GOOD_TAG, "v1")
        row = wait_for("the good verdict", lambda: self.finished(deployment_id))
        assert row.verdict is not None
        assert row.verdict.value == "pass", row
        return deployment_id

    def break_main(self) -> str:
        """A reviewed pull request, squashed onto main: the commit that breaks the shop."""
        change = {"app/checkout.py": "def checkout(cart):\n    raise RuntimeError('fast')\n"}
        self.sandbox.commit(REPO, change, BAD_SUBJECT, branch="faster-checkout", author=DEVELOPER)
        pipeline = self.pipeline()
        try:
            pull = pipeline.create_pull(REPO, "faster-checkout", "main", BAD_SUBJECT, "Faster.")
        finally:
            pipeline.close()
        self.pull_number = pull.number
        message = f"{BAD_SUBJECT} (#{pull.number})"
        self.bad_sha = self.sandbox.commit(REPO, change, message, author=DEVELOPER)
        return self.bad_sha

    # -- the guard's database ------------------------------------------------------------------
    def remedies(self) -> list[Remedy]:
        with self.session() as session:
            return list(session.scalars(sa.select(Remedy).order_by(Remedy.id)))

    def incidents(self) -> list[Incident]:
        with self.session() as session:
            return list(session.scalars(sa.select(Incident).order_by(Incident.id)))

    def known_bad(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(sa.select(KnownBadSha.sha).order_by(KnownBadSha.id)))

    def filed(self) -> Incident | None:
        """The incident once its issue number is stored (for `wait_for`)."""
        found = [row for row in self.incidents() if row.issue_number is not None]
        return found[0] if found else None

    # -- what GitHub (the sandbox) holds -------------------------------------------------------
    def rollbacks(self) -> list[Any]:
        """Deployments the guard made (their payload carries `deploy_guard`)."""
        deployments = self.sandbox.runtime.state.deployments.values()
        made = [d for d in deployments if "deploy_guard" in (d.payload or {})]
        return sorted(made, key=lambda d: d.id)

    def statuses(self, deployment_id: int) -> list[str]:
        statuses = self.sandbox.runtime.state.deployment_statuses.values()
        mine = sorted((s for s in statuses if s.deployment_id == deployment_id), key=lambda s: s.id)
        return [s.state for s in mine]

    def issues(self) -> list[Any]:
        issues = self.sandbox.runtime.state.issues.values()
        return sorted((i for i in issues if not i.is_pull), key=lambda i: i.number)

    def pulls(self) -> list[Any]:
        return sorted(self.sandbox.runtime.state.pulls.values(), key=lambda p: p.number)

    def comments_on(self, number: int) -> list[str]:
        comments = self.sandbox.runtime.state.comments.values()
        return [c.body for c in sorted(comments, key=lambda c: c.id) if c.issue_number == number]

    def head(self) -> str:
        head = self.sandbox.branch_sha(REPO)
        assert head is not None
        return head

    def writes(self) -> list[str]:
        """Every call that could change GitHub, as `METHOD path` (token minting aside)."""
        return [
            f"{call.method} {call.path}"
            for call in self.sandbox.calls.all()
            if call.method != "GET"
            and not call.path.endswith("/git-upload-pack")
            and not call.path.startswith("/app/installations/")
        ]


def app_clients(story: Story, **options: Any) -> GitHubFactory:
    """The App's clients without pacing; `options` go to each GitHubClient."""
    auth = AppAuth(story.app.app_id, story.app.private_key_pem, api_url=story.sandbox.base_url)

    def client(installation_id: int | None) -> GitHubClient:
        return GitHubClient(
            auth,
            story.sandbox.base_url,
            installation_id=installation_id,
            seconds_between_requests=None,
            seconds_between_writes=None,
            **options,
        )

    return client


def job_for(ctx: JobContext, verification_id: int, owner: str) -> Job:
    """One step's view of a verification, as a worker holding `owner`'s lease has it."""
    with ctx.sessions.begin() as session:
        loaded = load(session, verification_id)
    assert loaded is not None
    row, deployment = loaded
    return Job(ctx, ctx.github(deployment.installation_id), row, deployment, owner)


def handle_queued_deliveries(story: Story) -> None:
    """Run the handlers of the deliveries the service queued, as the workers' dispatcher
    would (for stories that drive the steps by hand, with nobody consuming the queue)."""
    queue = story.queue()
    dispatcher = DeliveryDispatcher.for_settings(story.settings(), queue)
    try:
        dispatcher.drain()
    finally:
        dispatcher.stop()
        queue.close()


def verdict_not_acted_on(story: Story, **context: Any) -> tuple[int, Verification]:
    """The bad deployment with its FAIL verdict stored and its hook not run yet: acting on
    the verdict failed at its first GitHub call (a 5xx to the remedy plan's read of the
    environment's deployments), before any write. Nobody consumes the queue: the steps are
    driven by hand, on a context built with `context`."""
    bad = story.deploy("main", "v2")
    assert story.sandbox.flush_webhooks(30), "the guard has queued the deliveries"
    handle_queued_deliveries(story)
    story.sandbox.add_fault(
        FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/deployments", method="GET", times=None
    )
    failing = build_context(
        story.settings(),
        Unscheduled(),
        STORY,
        github=app_clients(story, retry_policy=RetryPolicy(max_attempts=1)),
        **context,
    )
    try:
        VerificationJobs(failing).start(bad)
    finally:
        failing.close()
    story.sandbox.clear_faults()
    row = story.verification(bad)
    assert row is not None
    assert (row.verdict, row.state) == (VerdictKind.FAIL, VerificationState.WATCHING)
    return bad, row


def comment_with(story: Story, number: int, text: str) -> list[str]:
    """The comments on `number` that contain `text` (for `wait_for`: empty is falsy)."""
    return [body for body in story.comments_on(number) if text in body]


@contextmanager
def story_world(
    tmp_path: Path,
    *,
    strategy: str = "redeploy",
    mode: str = "enforce",
    database_url: str | None = None,
    queue_url: str | None = None,
) -> Iterator[Story]:
    """The shop at v1 with its policy, the sandbox sending webhooks to the guard's service."""
    database_url = database_url or f"sqlite:///{tmp_path / 'guard.db'}"
    queue_url = queue_url or f"sqlite:///{tmp_path / 'guard-queue.db'}"
    upgrade(database_url)
    late = LateApp()
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, late, threaded=True, request_handler=QuietRequestHandler
    )
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    hook = f"http://127.0.0.1:{server.port}/webhook"
    try:
        with (
            Sandbox(strict=True, webhook_url=hook, webhook_secret=SECRET) as sandbox,
            ExampleService() as shop,
        ):
            sandbox.add_user("mona", name=DEVELOPER.name, email=DEVELOPER.email)
            files = {
                "README.md": "# shop\n",
                "app/checkout.py": "def checkout(cart):\n    return sum(cart)\n",
                POLICY_PATH: policy(strategy, mode),
            }
            sandbox.create_repo(REPO, files, author=DEVELOPER)
            app = sandbox.register_app("deploy-guard")
            installation_id = sandbox.install_app(app.app_id, "octo-org", [REPO])
            owner_token = sandbox.register_token("octo-org")
            # A queue name of its own: the Redis database is shared with other test runs.
            name = f"deploy-guard-story-{uuid.uuid4().hex[:8]}"
            story = Story(
                sandbox, shop, app, installation_id, owner_token, database_url, queue_url, name
            )
            story.good_sha = story.head()
            sandbox.create_tag(REPO, GOOD_TAG, story.good_sha)
            queue = story.queue()
            late.app = create_app(story.settings(), queue=queue)
            try:
                yield story
                assert sandbox.flush_webhooks(30)
            finally:
                close_app(late.app)
                queue.huey.flush()
                queue.close()
            assert_conformant(sandbox)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def workers(
    story: Story, *, github: GitHubFactory | None = None, threads: int = 2, **environ: str
) -> Iterator[EmbeddedWorkers]:
    """Worker threads of one replica, consuming the story's queue (`environ`: GUARD_* set
    for these workers only)."""
    settings = story.settings(**environ)
    running = start_embedded_workers(
        settings,
        threads=threads,
        queue=make_queue(settings, name=story.queue_name, options=STORY, github=github),
    )
    try:
        yield running
    finally:
        running.stop()


def settled(story: Story, deployment_id: int) -> Verification:
    """Wait for the verification to end and its incident's issue to be stored."""
    row = wait_for("the verdict", lambda: story.finished(deployment_id))
    wait_for("the incident's issue", story.filed)
    return row


def eventually(what: str, check: Callable[[], bool]) -> None:
    wait_for(what, lambda: check() or None)
