"""A real `deploy-guard serve` for the demo: a subprocess on the embedded defaults, as the App."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from guard.sandbox import AppCredentials

DATABASE_FILE = "deploy-guard.db"
LOG_FILE = "serve.log"
READY_PATH = "/healthz"
READY_POLL_S = 0.1
STOP_WAIT_S = 30.0
# One web worker is plenty for a handful of webhooks, and spares the machine's CPUs.
WEB_WORKERS = 1

EXITED = "deploy-guard serve exited with status {code}; its log ends with:\n{log}"
SILENT = "deploy-guard serve did not answer {path} in time; its log ends with:\n{log}"


class GuardServiceError(RuntimeError):
    """serve did not start; the message says how it ended and where its log is."""


def free_port() -> int:
    """A port nothing listens on now (serve binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def deploy_guard_command() -> list[str]:
    """How to run this installation's `deploy-guard`: the script beside the interpreter, or
    the same entry point through the interpreter when there is no such script."""
    script = Path(sys.executable).with_name("deploy-guard")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from guard.cli import main; sys.exit(main())"]


def inherited_environment() -> dict[str, str]:
    """This process's environment without the user's own guard, Sentry or metrics settings:
    the demo's guard must talk to the sandbox only, whatever the shell has exported."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GUARD_", "SENTRY_", "PROMETHEUS_"))
    }


class GuardService:
    """`deploy-guard serve` on 127.0.0.1 with SQLite in `directory`, authenticated as `app`."""

    def __init__(
        self,
        directory: Path,
        *,
        github_api_url: str,
        app: AppCredentials,
        port: int | None = None,
        webhook_secret: str | None = None,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"{self.url}/webhook"
        self.webhook_secret = webhook_secret or secrets.token_hex(20)
        self.database_path = directory / DATABASE_FILE
        self.log_path = directory / LOG_FILE
        self._github_api_url = github_api_url
        self._app = app
        self._extra = dict(extra_environment or {})
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        """The GUARD_* settings serve runs with (everything else is the defaults)."""
        return {
            "GUARD_WEBHOOK_SECRET": self.webhook_secret,
            "GUARD_GITHUB_APP_ID": str(self._app.app_id),
            "GUARD_GITHUB_PRIVATE_KEY": self._app.private_key_pem,
            "GUARD_GITHUB_API_URL": self._github_api_url,
            "GUARD_DATABASE_URL": f"sqlite:///{self.database_path}",
            # The example shop listens on 127.0.0.1, which probes refuse by default.
            "GUARD_ALLOW_PRIVATE_NETWORKS": "true",
            "GUARD_PUBLIC_URL": self.url,
            # Its log is for people reading along (the tail is shown when the story fails).
            "GUARD_LOG_FORMAT": "text",
            **self._extra,
        }

    def run_url(self, verification_id: int) -> str:
        return f"{self.url}/runs/{verification_id}"

    def start(self, deadline: float) -> None:
        """Start serve and wait (until the monotonic `deadline`) for it to answer /healthz."""
        command = [
            *deploy_guard_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(WEB_WORKERS),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env={**inherited_environment(), **self.environment()},
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: the demo stops it in order, also after a Ctrl-C.
                start_new_session=True,
            )
        while not self._answers():
            if self.process.poll() is not None:
                raise GuardServiceError(
                    EXITED.format(code=self.process.returncode, log=self.log_tail())
                )
            if time.monotonic() > deadline:
                self.stop()
                raise GuardServiceError(SILENT.format(path=READY_PATH, log=self.log_tail()))
            time.sleep(READY_POLL_S)

    def _answers(self) -> bool:
        try:
            return requests.get(self.url + READY_PATH, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (serve stops its workers and job threads), SIGKILL if it does not go."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            # Its whole group: gunicorn's workers and the job workers' process with it.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
