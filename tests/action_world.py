"""A simulated GitHub Actions runner for `deploy-guard action`: the workspace, RUNNER_TEMP, the
GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, an event file, and a clock that never waits.

GitHub itself is the sandbox over HTTP; the deployments and events are made through its REST
API, so the event file carries the JSON GitHub would send.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from guard.action.main import run_action

RUN_ID = "7001"
SERVER_URL = "https://github.example.test"
_OUTPUT_BLOCK = re.compile(r"^([\w-]+)<<(\S+)\n(.*?)\n\2\n", re.MULTILINE | re.DOTALL)


class Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class StepRun:
    """What one run of the step left behind."""

    code: int
    log: str
    outputs: dict[str, str]
    summary: str

    def annotations(self, kind: str) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith(f"::{kind} ")]


def read_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: `name<<DELIMITER`, the value, the delimiter."""
    return {match.group(1): match.group(3) for match in _OUTPUT_BLOCK.finditer(text)}


@dataclass
class Runner:
    """The files of one job, and the variables the runner would set."""

    root: Path
    repository: str
    api_url: str
    sha: str
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("workspace", "temp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    def write_policy(self, text: str, path: str = ".github/deploy-guard.yml") -> Path:
        target = self.workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def write_event(self, name: str, payload: dict[str, Any]) -> None:
        path = self.root / "event.json"
        path.write_text(json.dumps(payload), encoding="utf-8")
        self.variables["GITHUB_EVENT_NAME"] = name
        self.variables["GITHUB_EVENT_PATH"] = str(path)

    def environ(self, **inputs: str) -> dict[str, str]:
        """The step's environment: the runner's variables and the inputs as action.yml sets them."""
        environ = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_SHA": self.sha,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": SERVER_URL,
            "GITHUB_RUN_ID": RUN_ID,
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.root / "temp"),
            "GITHUB_OUTPUT": str(self.root / "output.txt"),
            "GITHUB_STEP_SUMMARY": str(self.root / "summary.md"),
            "INPUT_POLICY": ".github/deploy-guard.yml",
        }
        environ.update(self.variables)
        for name, value in inputs.items():
            environ[name if name.isupper() else f"INPUT_{name.upper()}"] = value
        return environ

    def run(self, environ: dict[str, str], clock: Clock, **options: Any) -> StepRun:
        stream = io.StringIO()
        code = run_action(
            environ, stream, clock=clock, sleep=clock.sleep, github_pacing=False, **options
        )
        output = self.root / "output.txt"
        summary = self.root / "summary.md"
        return StepRun(
            code=code,
            log=stream.getvalue(),
            outputs=read_outputs(output.read_text(encoding="utf-8")) if output.exists() else {},
            summary=summary.read_text(encoding="utf-8") if summary.exists() else "",
        )


def deployment_status_event(
    http: requests.Session, api_url: str, repository: str, deployment_id: int, status: Any
) -> dict[str, Any]:
    """The `deployment_status` event of `status`, from the deployment GitHub answers with."""
    deployment = http.get(f"{api_url}/repos/{repository}/deployments/{deployment_id}").json()
    repo = http.get(f"{api_url}/repos/{repository}").json()
    return {
        "action": "created",
        "deployment_status": status,
        "deployment": deployment,
        "repository": repo,
        "sender": deployment["creator"],
    }
