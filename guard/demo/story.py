"""`deploy-guard demo`: the whole story of a bad deployment, played for real on this machine.

A GitHub sandbox (in this process), the example shop, the demo's pipeline and a real
`deploy-guard serve` subprocess. The story moves on when GitHub (the sandbox) shows that
something happened, never after a fixed time, and it stops at one deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import requests

from guard.demo import messages
from guard.demo.facts import StoryFacts
from guard.demo.guard_service import GuardServiceError
from guard.demo.observer import Observer
from guard.demo.pipeline import PipelineError, Shipment
from guard.demo.stage import Stage, StageOptions, open_stage
from guard.demo.world import (
    ENVIRONMENT,
    V1_MESSAGE,
    V2_MESSAGE,
    commit_broken_version,
    commit_healthy_version,
)
from guard.sandbox import Sandbox
from guard.sandbox.webhooks import Delivery

DEFAULT_TIMEOUT_S = 90.0
BRANCH = "main"
# How often the story looks at GitHub for what happened.
LOOK_EVERY_S = 0.1


@dataclass(frozen=True)
class StoryOutcome:
    """How the story went: what is missing (nothing when it completed) and GitHub's record."""

    missing: tuple[str, ...]
    facts: StoryFacts | None
    shipments: tuple[Shipment, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    elapsed_s: float = 0.0
    timed_out: bool = False
    start_error: str | None = None
    serve_pid: int | None = None
    temporary_paths: tuple[Path, ...] = ()
    # With a strict sandbox: answers that broke GitHub's description, and handler crashes.
    violations: tuple[str, ...] = ()

    @property
    def completed(self) -> bool:
        return not self.missing and self.start_error is None


class Narrator:
    """Says lines stamped with the seconds since the story began; safe from any thread."""

    def __init__(self, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self._say = say
        self._clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._last_error = ""

    def elapsed(self) -> float:
        return self._clock() - self.started

    def __call__(self, text: str) -> None:
        with self._lock:
            self._say(messages.STAMP.format(seconds=self.elapsed()) + text)

    def plain(self, text: str = "") -> None:
        with self._lock:
            self._say(text)

    def pipeline_error(self, error: Exception) -> None:
        # A pipeline that keeps failing the same way says so once.
        if str(error) != self._last_error:
            self._last_error = str(error)
            self(messages.PIPELINE_ERROR.format(error=error))

    def shipped(self, shipment: Shipment) -> None:
        if shipment.state != "success":
            self(messages.NOTHING_SHIPPED.format(id=shipment.deployment_id, sha=shipment.sha[:7]))
            return
        template = messages.SHIPPED_ROLLBACK if shipment.by_guard else messages.SHIPPED
        self(
            template.format(
                id=shipment.deployment_id, version=shipment.version, url=shipment.environment_url
            )
        )


class _Play:
    """The three acts, each waiting on GitHub's state until the deadline."""

    def __init__(self, stage: Stage, narrator: Narrator, deadline: float) -> None:
        self.stage = stage
        self.say = narrator
        self.deadline = deadline
        self.timed_out = False
        # Why the story stopped before its end, when GitHub refused the pipeline.
        self.failure: str | None = None
        self.observer = Observer(app_login=stage.app_login)
        self.deployments: dict[str, int] = {}

    def look(self) -> StoryFacts:
        """GitHub's state now; tells what changed since the last look."""
        sandbox = self.stage.sandbox
        facts = StoryFacts.read(
            sandbox,
            self.stage.world.repo,
            self.deployments.get("v1"),
            self.deployments.get("v2"),
        )
        for line in self.observer.changes(facts.tables, sandbox.deliveries()):
            self.say(line)
        return facts

    def wait_until(self, condition: Callable[[StoryFacts], bool]) -> StoryFacts:
        while True:
            facts = self.look()
            if condition(facts):
                return facts
            if time.monotonic() >= self.deadline:
                self.timed_out = True
                return facts
            time.sleep(LOOK_EVERY_S)

    def deploy(self, label: str, step: str, sha: str, message: str) -> bool:
        world = self.stage.world
        self.say(
            step.format(
                developer=world.developer, sha=sha[:7], message=message, environment=ENVIRONMENT
            )
        )
        # Deployed by branch, as CI does: the branch has moved on by the time of the rollback,
        # so the guard redeploys v1's SHA.
        try:
            created = self.stage.pipeline.create_deployment(BRANCH, description=message)
        except (PipelineError, requests.RequestException) as error:
            self.failure = messages.DEPLOY_FAILED.format(label=label, error=error)
            return False
        self.deployments[label] = int(created["id"])
        return True

    def play(self) -> StoryFacts:
        sandbox, world = self.stage.sandbox, self.stage.world
        if not self.deploy(
            "v1", messages.STEP_V1, commit_healthy_version(sandbox, world), V1_MESSAGE
        ):
            return self.look()
        facts = self.wait_until(lambda f: _concluded(f.v1_check))
        if self.timed_out or facts.v1_gap() is not None:
            return facts
        self.say.plain()
        if not self.deploy(
            "v2", messages.STEP_V2, commit_broken_version(sandbox, world), V2_MESSAGE
        ):
            return self.look()
        facts = self.wait_until(lambda f: _concluded(f.v2_check))
        if self.timed_out or facts.v2_gap() is not None:
            return facts
        self.say.plain()
        self.say(messages.STEP_REMEDY)
        return self.wait_until(lambda f: not f.missing())


def _concluded(run: object) -> bool:
    return run is not None and getattr(run, "status", None) == "completed"


def _report(stage: Stage, facts: StoryFacts, outcome: StoryOutcome, say: Narrator) -> None:
    say.plain()
    if outcome.completed:
        say.plain(messages.COMPLETED.format(seconds=outcome.elapsed_s))
    else:
        heading = messages.TIMED_OUT if outcome.timed_out else messages.NOT_COMPLETED
        say.plain(heading.format(seconds=outcome.elapsed_s))
        for gap in outcome.missing:
            say.plain(messages.MISSING_LINE.format(gap=gap))
        say.plain(messages.SERVE_LOG_TAIL.format(path=stage.guard.log_path))
        say.plain(stage.guard.log_tail())
    incident = facts.incident
    if incident is not None:
        say.plain()
        say.plain(messages.INCIDENT_HEADING.format(number=incident.number, title=incident.title))
        say.plain(messages.INCIDENT_RULE)
        say.plain((incident.body or "").rstrip())
        say.plain(messages.INCIDENT_RULE)
    _where_to_look(stage, facts, say)


def _where_to_look(stage: Stage, facts: StoryFacts, say: Narrator) -> None:
    base = f"{stage.sandbox.base_url}/repos/{stage.world.repo}"
    runs = [
        messages.WHERE_RUN.format(label=label, url=run.details_url)
        for label, run in (
            ("v1", facts.v1_check),
            ("v2", facts.v2_check),
            ("rollback", facts.remedy_check),
        )
        if run is not None and run.details_url
    ]
    say.plain()
    say.plain(messages.WHERE_TO_LOOK)
    if runs:
        say.plain(messages.WHERE_RUNS.format(runs=", ".join(runs)))
    if facts.incident is not None:
        say.plain(messages.WHERE_ISSUE.format(url=f"{base}/issues/{facts.incident.number}"))
    say.plain(
        messages.WHERE_DEPLOYMENTS.format(url=f"{base}/deployments?environment={ENVIRONMENT}")
    )
    say.plain(messages.WHERE_LOG.format(path=stage.guard.log_path))
    say.plain(messages.WHILE_RUNNING)


def _violations(sandbox: Sandbox) -> tuple[str, ...]:
    found = [
        f"{v.kind}: {v.method} {v.path} -> {v.status}: {v.message}" for v in sandbox.violations()
    ]
    return (*found, *sandbox.crashes())


def run_story(
    say: Callable[[str], None],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    keep_running: Callable[[], None] | None = None,
    strict: bool = False,
) -> StoryOutcome:
    """Play the story through `say`; everything started is stopped before this returns (or
    raises, on Ctrl-C). `keep_running`, when given, is called before stopping; `strict`
    checks every sandbox answer against GitHub's description (needs openapi-core)."""
    narrator = Narrator(say)
    narrator.plain(messages.INTRO)
    narrator.plain()
    deadline = narrator.started + timeout_s
    options = StageOptions(
        strict=strict,
        announce=narrator,
        on_shipped=narrator.shipped,
        on_error=narrator.pipeline_error,
    )
    with ExitStack() as stack:
        try:
            stage = open_stage(stack, deadline, options)
        except (GuardServiceError, OSError) as error:
            narrator.plain(messages.START_FAILED.format(error=error))
            return StoryOutcome(missing=(), facts=None, start_error=str(error))
        play = _Play(stage, narrator, deadline)
        facts = play.play()
        outcome = StoryOutcome(
            missing=(*([play.failure] if play.failure else []), *facts.missing()),
            facts=facts,
            shipments=tuple(stage.pipeline.shipments),
            deliveries=tuple(stage.sandbox.deliveries()),
            elapsed_s=narrator.elapsed(),
            timed_out=play.timed_out,
            serve_pid=stage.guard.process.pid if stage.guard.process else None,
            temporary_paths=(stage.directory, stage.sandbox.data_dir),
            violations=_violations(stage.sandbox),
        )
        _report(stage, facts, outcome, narrator)
        if keep_running is not None:
            narrator.plain()
            narrator.plain(messages.KEEPING)
            keep_running()
    narrator.plain(messages.CLEANED_UP)
    return outcome
