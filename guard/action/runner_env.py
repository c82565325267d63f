"""What a GitHub Actions runner tells the step: its `GITHUB_*` variables, the event file, and
the inputs that action.yml hands over as `INPUT_*` variables (composite actions get none)."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import ValidationError

from guard.events.deployment import Deployment
from guard.events.deployment_status import DeploymentStatus
from guard.github.transport import DEFAULT_API_URL

Mode = Literal["enforce", "shadow"]

# action.yml input -> the variable its `run` step sets. A test holds action.yml to this table.
INPUT_VARIABLES: dict[str, str] = {
    "environment": "INPUT_ENVIRONMENT",
    "url": "INPUT_URL",
    "policy": "INPUT_POLICY",
    "deployment-id": "INPUT_DEPLOYMENT_ID",
    "github-token": "INPUT_GITHUB_TOKEN",
    "guard-url": "INPUT_GUARD_URL",
    "guard-audience": "INPUT_GUARD_AUDIENCE",
    "mode": "INPUT_MODE",
}
# Set by action.yml to `inputs.github-token == github.token`: the token cannot tell us itself.
JOB_TOKEN_FLAG = "GUARD_TOKEN_IS_JOB_TOKEN"  # noqa: S105 - a variable name
# Lines of NAME=value, for the reusable workflow, which cannot forward variables by name.
SECRETS_BUNDLE = "GUARD_SECRETS"
SECRET_PREFIX = "GUARD_SECRET_"  # noqa: S105 - a name prefix
DEFAULT_POLICY = ".github/deploy-guard.yml"
DEFAULT_SERVER_URL = "https://github.com"
MODES: tuple[Mode, ...] = ("enforce", "shadow")

_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
_SECRET_NAME = re.compile(r"^GUARD_SECRET_[A-Z0-9_]+$")

NOT_IN_ACTIONS = (
    "GITHUB_REPOSITORY is not set: `deploy-guard action` runs as a step of a GitHub Actions job "
    "(use `deploy-guard verify` on your own machine)"
)
NO_ENVIRONMENT = (
    "the input environment is required: the name of the environment just deployed, "
    "as in the policy (e.g. environment: production)"
)
BAD_DEPLOYMENT_ID = "the input deployment-id must be a deployment's number, got {value!r}"
BAD_MODE = "the input mode must be enforce or shadow (or empty for the policy's), got {value!r}"
BAD_URL = "the input {name} must be an http(s) URL, got {value!r}"
BAD_BUNDLE_LINE = (
    "GUARD_SECRETS line {number}: each line must be GUARD_SECRET_NAME=value "
    "(capitals, digits and _ after GUARD_SECRET_)"
)


class ActionUsageError(Exception):
    """The step is set up wrongly: one sentence that says what to change (exit 2)."""


@dataclass(frozen=True)
class ActionInputs:
    """The Action's inputs, checked."""

    environment: str
    url: str | None
    policy: str
    deployment_id: int | None
    github_token: str | None
    guard_url: str | None
    guard_audience: str | None
    mode: Mode | None
    token_is_job_token: bool

    @property
    def remote(self) -> bool:
        return self.guard_url is not None


@dataclass(frozen=True)
class EventDeployment:
    """The deployment a `deployment` or `deployment_status` event is about."""

    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    creator: str | None
    environment_url: str | None


@dataclass(frozen=True)
class Runner:
    """The job the step runs in."""

    repository: str
    sha: str | None
    ref: str | None
    api_url: str
    server_url: str
    run_id: str | None
    workspace: Path
    temp: Path
    output_path: Path | None
    summary_path: Path | None
    event_name: str | None
    deployment: EventDeployment | None
    id_token_url: str | None
    id_token_request_token: str | None

    @property
    def run_url(self) -> str | None:
        """This workflow run's page."""
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def repository_url(self) -> str:
        return f"{self.server_url}/{self.repository}"

    def environment_url(self, environment: str) -> str:
        """The page listing an environment's deployments."""
        return f"{self.repository_url}/deployments/{environment}"


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _http_url(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionUsageError(BAD_URL.format(name=name, value=value))
    return value.rstrip("/")


def read_inputs(environ: Mapping[str, str]) -> ActionInputs:
    """The inputs as action.yml passes them; raises ActionUsageError on a wrong one."""

    def given(name: str) -> str | None:
        return _text(environ, INPUT_VARIABLES[name])

    environment = given("environment")
    if environment is None:
        # `required: true` in action.yml is not enforced by GitHub: this is the check.
        raise ActionUsageError(NO_ENVIRONMENT)
    deployment_text = given("deployment-id")
    deployment_id = None
    if deployment_text is not None:
        if not deployment_text.isdigit() or int(deployment_text) < 1:
            raise ActionUsageError(BAD_DEPLOYMENT_ID.format(value=deployment_text))
        deployment_id = int(deployment_text)
    mode_text = given("mode")
    mode: Mode | None = None
    for known in MODES:
        if mode_text == known:
            mode = known
    if mode_text is not None and mode is None:
        raise ActionUsageError(BAD_MODE.format(value=mode_text))
    guard_url = _http_url("guard-url", given("guard-url"))
    return ActionInputs(
        environment=environment,
        url=_http_url("url", given("url")),
        policy=given("policy") or DEFAULT_POLICY,
        deployment_id=deployment_id,
        github_token=given("github-token"),
        guard_url=guard_url,
        # The service's audience is its own URL unless it was configured otherwise.
        guard_audience=given("guard-audience") or guard_url,
        mode=mode,
        token_is_job_token=environ.get(JOB_TOKEN_FLAG, "").strip().lower() == "true",
    )


def read_runner(environ: Mapping[str, str]) -> Runner:
    """The job's context; raises ActionUsageError outside GitHub Actions."""
    repository = _text(environ, "GITHUB_REPOSITORY")
    if repository is None or not _REPOSITORY.match(repository):
        raise ActionUsageError(NOT_IN_ACTIONS)
    output = _text(environ, "GITHUB_OUTPUT")
    summary = _text(environ, "GITHUB_STEP_SUMMARY")
    event_name = _text(environ, "GITHUB_EVENT_NAME")
    return Runner(
        repository=repository,
        sha=_text(environ, "GITHUB_SHA"),
        ref=_text(environ, "GITHUB_REF"),
        api_url=(_text(environ, "GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        server_url=(_text(environ, "GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
        run_id=_text(environ, "GITHUB_RUN_ID"),
        workspace=Path(_text(environ, "GITHUB_WORKSPACE") or Path.cwd()),
        temp=Path(_text(environ, "RUNNER_TEMP") or tempfile.gettempdir()),
        output_path=Path(output) if output else None,
        summary_path=Path(summary) if summary else None,
        event_name=event_name,
        deployment=read_event_deployment(_text(environ, "GITHUB_EVENT_PATH")),
        id_token_url=_text(environ, "ACTIONS_ID_TOKEN_REQUEST_URL"),
        id_token_request_token=_text(environ, "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    )


def read_event_deployment(path: str | None) -> EventDeployment | None:
    """The deployment of a `deployment` or `deployment_status` event file, if it is one.

    Any other event (push, workflow_dispatch, ...) carries none; a file that cannot be read
    or parsed is treated the same way, since the step can still verify without it.
    """
    if path is None:
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("deployment"), dict):
        return None
    try:
        deployment = Deployment.model_validate(payload["deployment"])
        status = (
            DeploymentStatus.model_validate(payload["deployment_status"])
            if isinstance(payload.get("deployment_status"), dict)
            else None
        )
    except ValidationError:
        return None
    return EventDeployment(
        id=deployment.id,
        sha=deployment.sha,
        ref=deployment.ref,
        environment=(status.environment if status else None) or deployment.environment,
        created_at=deployment.created_at,
        creator=deployment.creator_login,
        environment_url=status.environment_url if status else None,
    )


def secret_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The `GUARD_SECRET_*` variables (the step's own, and GUARD_SECRETS lines), and every
    secret value to mask before anything is printed: those, the tokens, the bundle's lines."""
    found = {name: value for name, value in environ.items() if name.startswith(SECRET_PREFIX)}
    to_mask = [value for value in found.values() if value]
    problem: str | None = None
    for number, line in enumerate(environ.get(SECRETS_BUNDLE, "").splitlines(), start=1):
        if not line.strip():
            continue
        name, separator, value = line.strip().partition("=")
        if not separator or not _SECRET_NAME.match(name.strip()):
            # Masked whole: a line we cannot parse may still be a secret.
            to_mask.append(line.strip())
            problem = problem or BAD_BUNDLE_LINE.format(number=number)
            continue
        found[name.strip()] = value
        to_mask.append(value)
    for name in (INPUT_VARIABLES["github-token"], "GITHUB_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        if environ.get(name):
            to_mask.append(environ[name])
    if problem is not None:
        raise SecretsBundleError(problem, to_mask)
    return found, to_mask


class SecretsBundleError(ActionUsageError):
    """GUARD_SECRETS could not be read; `to_mask` still holds everything to hide."""

    def __init__(self, message: str, to_mask: list[str]) -> None:
        super().__init__(message)
        self.to_mask = to_mask
