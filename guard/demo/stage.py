"""The demo's stage, set up and torn down: sandbox GitHub, example shop, serve, pipeline.

`open_stage` starts every part on an ExitStack, so whoever holds the stack stops them all (in
reverse order) and removes their files, also on Ctrl-C. The story uses it, and so do the
benchmarks that count and time the guard's GitHub calls on the same setup.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from guard.demo import messages
from guard.demo.example_service import ExampleService
from guard.demo.guard_service import GuardService, free_port
from guard.demo.pipeline import Pipeline, Shipment
from guard.demo.world import ENVIRONMENT, POLICY_PATH, DemoWorld, demo_policy_text, seed_world
from guard.policy.loader import load_policy
from guard.policy.types import format_duration
from guard.sandbox import Sandbox
from guard.sandbox.ratelimit import AUTHENTICATED_LIMIT

TEMPORARY_PREFIX = "deploy-guard-demo-"


def _quiet(_line: str) -> None:
    return None


@dataclass
class StageOptions:
    """How the stage is set up; the defaults are the demo's."""

    strict: bool = False
    rate_limit: int = AUTHENTICATED_LIMIT
    # False: nothing ships on its own; the caller ships with `pipeline.poll_once()`.
    ship_in_background: bool = True
    announce: Callable[[str], None] = _quiet
    on_shipped: Callable[[Shipment], None] | None = None
    on_error: Callable[[Exception], None] | None = None
    serve_environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """The started parts."""

    directory: Path
    sandbox: Sandbox
    world: DemoWorld
    shop: ExampleService
    guard: GuardService
    pipeline: Pipeline

    @property
    def app_login(self) -> str:
        """The account the App acts as on GitHub."""
        return f"{self.world.app.slug}[bot]"


def _describe_sandbox(sandbox: Sandbox, world: DemoWorld) -> str:
    environment = load_policy(demo_policy_text(), POLICY_PATH).environments[ENVIRONMENT]
    watch = environment.watch
    return messages.SANDBOX_READY.format(
        url=sandbox.base_url,
        repo=world.repo,
        policy=POLICY_PATH,
        interval=format_duration(watch.interval) if watch else "-",
        duration=format_duration(watch.duration) if watch else "-",
        developer=world.developer,
        app=world.app.slug,
        app_id=world.app.app_id,
    )


def open_stage(stack: ExitStack, deadline: float, options: StageOptions) -> Stage:
    """Start everything (serve must answer before the monotonic `deadline`)."""
    say = options.announce
    directory = Path(
        stack.enter_context(
            tempfile.TemporaryDirectory(prefix=TEMPORARY_PREFIX, ignore_cleanup_errors=True)
        )
    )
    shop = stack.enter_context(ExampleService())
    # serve's port is chosen first: the sandbox is told where to deliver its webhooks.
    port = free_port()
    secret = secrets.token_hex(20)
    sandbox = Sandbox(
        webhook_url=f"http://127.0.0.1:{port}/webhook",
        webhook_secret=secret,
        strict=options.strict,
        rate_limit=options.rate_limit,
    )
    stack.enter_context(sandbox)
    world = seed_world(sandbox)
    say(_describe_sandbox(sandbox, world))
    say(messages.SHOP_READY.format(url=shop.url))
    guard = GuardService(
        directory,
        github_api_url=sandbox.base_url,
        app=world.app,
        port=port,
        webhook_secret=secret,
        extra_environment=options.serve_environment,
    )
    say(
        messages.SERVE_STARTING.format(
            url=guard.url, app_id=world.app.app_id, api=sandbox.base_url, directory=directory
        )
    )
    say(messages.PRIVATE_NETWORKS)
    stack.callback(guard.stop)
    guard.start(deadline)
    say(messages.SERVE_READY.format(webhook_url=guard.webhook_url))
    pipeline = Pipeline(
        sandbox.base_url,
        world.developer_token,
        world.repo,
        shop,
        environment=ENVIRONMENT,
        on_shipped=options.on_shipped,
        on_error=options.on_error,
    )
    stack.callback(pipeline.stop)
    if options.ship_in_background:
        pipeline.start()
    return Stage(directory, sandbox, world, shop, guard, pipeline)
