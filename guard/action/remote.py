"""Remote mode (`guard-url`): the job proves who it is with its GitHub OIDC token, the guard
service verifies, remedies and files the incident, and the step follows it to its end.

    POST {guard-url}/api/v1/verifications        {environment, deployment_id?, url?, sha?, ref?}
    GET  {guard-url}/api/v1/verifications/<id>   until its state is finished, superseded or error
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from guard.action.commands import Commands
from guard.action.parse_remote import report_from_json
from guard.action.permissions import PermissionHelp, id_token_missing
from guard.action.report import ActionReport
from guard.action.runner_env import ActionInputs, Runner

API_PATH = "/api/v1/verifications"
FINAL_STATES = frozenset({"finished", "superseded", "error"})
# A watch is ten minutes by default; the job's own timeout-minutes bounds it too.
POLL_INTERVAL_S = 10.0
POLL_TIMEOUT_S = 45 * 60.0
HTTP_TIMEOUT_S = 30.0
_SHA = re.compile(r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$")

OIDC_REFUSED = "The runner did not hand out an OIDC token for {audience}: HTTP {status}."
OIDC_UNREACHABLE = "The runner's OIDC token endpoint could not be reached for {audience}: {error}."
OIDC_EMPTY = "The runner's answer to the OIDC token request had no token in .value."
GUARD_REFUSED = "The guard at {url} refused the request ({status} {error}): {reason}"
GUARD_UNREACHABLE = "The guard at {url} could not be reached: {error}"
GUARD_FAILED = "The guard at {url} answered HTTP {status}: {reason}"
NOT_JSON = "The guard at {url} answered HTTP {status} with something that is not JSON."
TIMED_OUT = (
    "The guard's verification {id} was still {state} after {minutes} min; the step "
    "stopped waiting (the guard goes on, and its page will show the verdict)."
)
STARTED = "The guard at {url} is verifying deployment {deployment} to {environment}: {link}"
POLLING = "verification {id}: {state}"
RETRYING = "{problem} Asking again."


class RemoteProblem(Exception):  # noqa: N818 - a problem to report, not a crash
    """Remote mode could not get a verdict; `usage` problems are the step's setup (exit 2)."""

    def __init__(
        self, message: str, *, usage: bool, permissions: PermissionHelp | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.permissions = permissions


@dataclass(frozen=True)
class Polling:
    """How the step follows a verification: injectable, so tests never wait."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    interval_s: float = POLL_INTERVAL_S
    timeout_s: float = POLL_TIMEOUT_S


def request_id_token(runner: Runner, audience: str, http: requests.Session) -> str:
    """The job's OIDC token for `audience`, from the runner's token endpoint."""
    if runner.id_token_url is None or runner.id_token_request_token is None:
        help_ = id_token_missing()
        raise RemoteProblem(help_.message, usage=True, permissions=help_)
    joiner = "&" if "?" in runner.id_token_url else "?"
    url = f"{runner.id_token_url}{joiner}{urlencode({'audience': audience})}"
    headers = {"Authorization": f"bearer {runner.id_token_request_token}"}
    try:
        response = http.get(url, headers=headers, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as error:
        message = OIDC_UNREACHABLE.format(audience=audience, error=type(error).__name__)
        raise RemoteProblem(message, usage=True) from None
    if response.status_code != 200:
        message = OIDC_REFUSED.format(audience=audience, status=response.status_code)
        raise RemoteProblem(message, usage=True)
    try:
        value = response.json().get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise RemoteProblem(OIDC_EMPTY, usage=True)
    return value


def request_body(runner: Runner, inputs: ActionInputs) -> dict[str, Any]:
    """What the API takes: only the keys with a value (it refuses nulls it cannot check)."""
    event = runner.deployment
    same_environment = event is not None and event.environment == inputs.environment
    body: dict[str, Any] = {"environment": inputs.environment}
    deployment_id = inputs.deployment_id or (event.id if event and same_environment else None)
    if deployment_id is not None:
        body["deployment_id"] = deployment_id
    url = inputs.url or (event.environment_url if event and same_environment else None)
    if url:
        body["url"] = url
    if runner.sha and _SHA.match(runner.sha):
        body["sha"] = runner.sha.lower()
    if runner.ref:
        body["ref"] = runner.ref
    return body


class GuardClient:
    """The two calls of the API, with the OIDC token renewed once when the guard says 401."""

    def __init__(
        self, runner: Runner, inputs: ActionInputs, commands: Commands, http: requests.Session
    ) -> None:
        assert inputs.guard_url is not None
        assert inputs.guard_audience is not None
        self.base = inputs.guard_url
        self.audience = inputs.guard_audience
        self.runner = runner
        self.commands = commands
        self.http = http
        self._token = self._new_token()

    def _new_token(self) -> str:
        token = request_id_token(self.runner, self.audience, self.http)
        self.commands.mask(token)
        return token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._send(method, path, body)
        if response.status_code == 401:
            # GitHub's OIDC tokens are short-lived; a long watch outlives the first one.
            self._token = self._new_token()
            response = self._send(method, path, body)
        return self._json(response)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            return self.http.request(
                method, self.base + path, json=body, headers=headers, timeout=HTTP_TIMEOUT_S
            )
        except requests.RequestException as error:
            message = GUARD_UNREACHABLE.format(url=self.base, error=type(error).__name__)
            raise RemoteProblem(message, usage=False) from None

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            message = NOT_JSON.format(url=self.base, status=response.status_code)
            raise RemoteProblem(message, usage=response.status_code < 500)
        if response.status_code >= 400:
            raise _refusal(self.base, response.status_code, data)
        return data


def _refusal(base: str, status: int, data: dict[str, Any]) -> RemoteProblem:
    reason = str(data.get("reason") or data.get("error") or "")
    if status in (401, 403):
        message = GUARD_REFUSED.format(
            url=base, status=status, error=data.get("error", ""), reason=reason
        )
        return RemoteProblem(message, usage=True)
    message = GUARD_FAILED.format(url=base, status=status, reason=reason)
    # The guard's own trouble (5xx) is no verdict; anything else is how the step asked.
    return RemoteProblem(message, usage=status < 500)


def verify_remotely(
    runner: Runner,
    inputs: ActionInputs,
    commands: Commands,
    http: requests.Session,
    polling: Polling,
) -> ActionReport:
    """Start the verification on the guard and follow it; RemoteProblem when there is none."""
    client = GuardClient(runner, inputs, commands, http)
    started = client.call("POST", API_PATH, request_body(runner, inputs))
    verification_id = started.get("id")
    if not isinstance(verification_id, int):
        raise RemoteProblem(NOT_JSON.format(url=client.base, status=202), usage=False)
    links = started.get("links") if isinstance(started.get("links"), dict) else {}
    commands.line(
        STARTED.format(
            url=client.base,
            deployment=started.get("deployment_id", "?"),
            environment=inputs.environment,
            link=(links or {}).get("run") or f"{client.base}{API_PATH}/{verification_id}",
        )
    )
    path = f"{API_PATH}/{verification_id}"
    deadline = polling.clock() + polling.timeout_s
    state = str(started.get("state", ""))
    while True:
        try:
            current = client.call("GET", path)
        except RemoteProblem as problem:
            if problem.usage:
                raise
            # The guard goes on without us: a restart or a blip is waited out, not reported.
            commands.line(RETRYING.format(problem=problem.message))
        else:
            state = str(current.get("state", ""))
            commands.line(POLLING.format(id=verification_id, state=state))
            if state in FINAL_STATES:
                return report_from_json(current, inputs.environment, runner)
        if polling.clock() >= deadline:
            minutes = round(polling.timeout_s / 60)
            message = TIMED_OUT.format(id=verification_id, state=state, minutes=minutes)
            raise RemoteProblem(message, usage=False)
        polling.sleep(polling.interval_s)
