"""A real `deploy-guard serve` in a subprocess, for the end-to-end service tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import requests

DEPLOY_GUARD = str(Path(sys.executable).with_name("deploy-guard"))
# How many times to look for /healthz before giving up on a start-up (a bound, not a timing).
READINESS_ATTEMPTS = 600
READINESS_PAUSE_S = 0.1
STOP_WAIT_S = 60
JOBS = "guard.service.jobs_process"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll_until(condition: Callable[[], bool], what: str) -> None:
    """Check `condition` until it holds, a bounded number of times (a readiness wait)."""
    for _ in range(READINESS_ATTEMPTS):
        if condition():
            return
        time.sleep(READINESS_PAUSE_S)
    raise AssertionError(f"never happened: {what}")


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie awaiting its reaper does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def clean_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without any guard, Sentry or metrics setting, plus these."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GUARD_", "SENTRY_", "PROMETHEUS_"))
    }
    return {**kept, **variables}


def run_serve(
    environment: Mapping[str, str], directory: Path, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """`deploy-guard serve` run to completion (for start-up failures)."""
    return subprocess.run(
        [DEPLOY_GUARD, "serve", *arguments],
        env=clean_environment(environment),
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class ServeProcess:
    """`deploy-guard serve --port P --workers N`, started and stopped around a `with` block."""

    def __init__(self, environment: Mapping[str, str], directory: Path, *, workers: int = 2):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        self.log_path = directory / "serve.log"
        self._environment = clean_environment(environment)
        self._workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [DEPLOY_GUARD, "serve", "--port", str(self.port), "--workers", str(self._workers)],
                env=self._environment,
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until_serving()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_until_serving(self, path: str = "/healthz") -> None:
        """Poll `path` until it answers 200; fail with the log if the process exits first."""
        assert self.process is not None
        for _ in range(READINESS_ATTEMPTS):
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                if requests.get(self.url(path), timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(READINESS_PAUSE_S)
        self.stop()
        raise AssertionError(f"serve never answered {path}:\n{self.log_text()}")

    def children(self) -> dict[int, str]:
        """The serve process's children and their command lines."""
        assert self.process is not None
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid:
                found[int(stat.parent.name)] = command.decode(errors="replace")
        return found

    def worker_pids(self) -> list[int]:
        """gunicorn's web workers: the children that are not the job workers' process."""
        return sorted(pid for pid, command in self.children().items() if JOBS not in command)

    def jobs_pids(self) -> list[int]:
        return sorted(pid for pid, command in self.children().items() if JOBS in command)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
