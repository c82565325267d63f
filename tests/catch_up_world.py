"""A world for the catch-up tests: the sandbox delivers to the guard's real service, which a
switch can take down (503, as a restarting guard), and the catch-up runs on its own context.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from werkzeug.serving import BaseWSGIServer, make_server

from guard.demo.example_service import QuietRequestHandler
from guard.jobs.context import JobContext, build_context
from guard.jobs.queue import JobQueue, make_queue
from guard.sandbox import AppCredentials, Sandbox
from guard.sandbox.webhooks import Delivery as SentDelivery
from guard.service.app import close_app, create_app
from guard.settings import Settings, load_settings
from guard.store import Delivery, upgrade
from tests.guard_world import GuardWorld, Unscheduled
from tests.jobs_world import FAST
from tests.sandbox_fixtures import assert_conformant
from tests.service_support import database_session

REPO = "octo-org/shop"
SECRET = "a webhook secret for the catch-up"


class Switch:
    """The guard's service behind a switch: `up`, it answers; down, a 503 as a guard that is
    restarting; `answer_lost`, it records the delivery and then answers 503 all the same."""

    def __init__(self) -> None:
        self.app: Any = None
        self.up = False
        self.answer_lost = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.up and not self.answer_lost:
            return self.app(environ, start_response)
        if self.answer_lost:
            # The service records the delivery; the answer never makes it back to GitHub.
            list(self.app(environ, lambda *_args, **_kwargs: None))
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"restarting"]


@dataclass
class CatchUpWorld(GuardWorld):
    """The sandbox, the switchable guard service and its database; a clock offset for both."""

    sandbox: Sandbox
    switch: Switch
    app: AppCredentials
    owner_token: str
    database_url: str
    queue_url: str
    queue_name: str
    contexts: list[JobContext] = field(default_factory=list)
    offset_s: float = 0.0

    def environ(self, **overrides: str) -> dict[str, str]:
        variables = {
            **self.app_variables(),
            "GUARD_WEBHOOK_SECRET": SECRET,
            "GUARD_LOG_FORMAT": "text",
        }
        variables.update(overrides)
        return {key: value for key, value in variables.items() if value}

    def settings(self, **overrides: str) -> Settings:
        return load_settings(self.environ(**overrides))

    def queue(self) -> JobQueue:
        return make_queue(self.settings(), name=self.queue_name)

    def clock(self) -> float:
        """The guard's clock: the sandbox's, so JWTs and the log's times agree."""
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        """Time passes for GitHub and the guard alike."""
        self.offset_s += seconds
        self.sandbox.advance_clock(seconds)

    def context(self, **overrides: str) -> JobContext:
        """A jobs process's context (one replica's engine), on the world's clock."""
        ctx = build_context(self.settings(**overrides), Unscheduled(), FAST, clock=self.clock)
        self.contexts.append(ctx)
        return ctx

    # -- GitHub's side -------------------------------------------------------------------------
    def deploy(self) -> int:
        """A deployment and its `success` status: two deliveries to the guard."""
        headers = {"Authorization": f"token {self.owner_token}"}
        url = f"{self.sandbox.base_url}/repos/{REPO}/deployments"
        with requests.Session() as http:
            made = http.post(url, headers=headers, json={"ref": "main"}, timeout=10)
            assert made.status_code == 201, made.text
            number = int(made.json()["id"])
            status = http.post(
                f"{url}/{number}/statuses", headers=headers, json={"state": "success"}, timeout=10
            )
            assert status.status_code == 201, status.text
        assert self.sandbox.flush_webhooks(30)
        return number

    def sent(self) -> list[SentDelivery]:
        assert self.sandbox.flush_webhooks(30)
        return self.sandbox.deliveries()

    # -- the guard's database ------------------------------------------------------------------
    def recorded(self) -> dict[str, int]:
        """How many rows each delivery guid has in the deliveries table."""
        with database_session(self.database_url) as session:
            rows = session.execute(
                sa.select(Delivery.delivery_id, sa.func.count()).group_by(Delivery.delivery_id)
            ).all()
        return {str(guid): int(count) for guid, count in rows}

    def forget(self, guids: list[str]) -> None:
        """The rows are gone, as the last commits before a power cut can be (intake's commit
        leaves its fsync to the next one): GitHub's log still shows them answered."""
        self._change(sa.delete(Delivery).where(Delivery.delivery_id.in_(guids)))

    def mark_error(self, guid: str) -> None:
        """The delivery's handler failed: the table holds it as `error`."""
        self._change(
            sa.update(Delivery).where(Delivery.delivery_id == guid).values(outcome="error")
        )

    def _change(self, statement: sa.Executable) -> None:
        with database_session(self.database_url) as session:
            session.execute(statement)
            session.commit()


@contextmanager
def catch_up_world(tmp_path: Path, *, database_url: str | None = None) -> Iterator[CatchUpWorld]:
    """The sandbox delivering to the guard's service (down until the test brings it up)."""
    database_url = database_url or f"sqlite:///{tmp_path / 'guard.db'}"
    queue_url = f"sqlite:///{tmp_path / 'guard-queue.db'}"
    upgrade(database_url)
    switch = Switch()
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, switch, threaded=True, request_handler=QuietRequestHandler
    )
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    hook = f"http://127.0.0.1:{server.port}/webhook"
    try:
        with Sandbox(strict=True, webhook_url=hook, webhook_secret=SECRET) as sandbox:
            sandbox.create_repo(REPO, {"README.md": "# shop\n"})
            app = sandbox.register_app("deploy-guard")
            sandbox.install_app(app.app_id, "octo-org", [REPO])
            owner_token = sandbox.register_token("octo-org")
            name = f"deploy-guard-catch-up-{uuid.uuid4().hex[:8]}"
            world = CatchUpWorld(sandbox, switch, app, owner_token, database_url, queue_url, name)
            queue = world.queue()
            switch.app = create_app(world.settings(), queue=queue)
            try:
                yield world
                assert sandbox.flush_webhooks(30)
            finally:
                for ctx in world.contexts:
                    ctx.close()
                close_app(switch.app)
                queue.close()
            assert_conformant(sandbox)
    finally:
        server.shutdown()
        server.server_close()


def guids(deliveries: list[SentDelivery], keep: Callable[[SentDelivery], bool]) -> list[str]:
    """The guids of the attempts `keep` picks, in the order they were made, each once."""
    seen: list[str] = []
    for delivery in deliveries:
        if keep(delivery) and delivery.guid not in seen:
            seen.append(delivery.guid)
    return seen
