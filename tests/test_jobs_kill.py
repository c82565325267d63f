"""Kill -9 in the middle of a watch, start another worker: the verification ends, nothing twice.

The workers are real `deploy-guard worker` processes; the first one is SIGKILLed after round
2 of 6 is recorded, whatever it was doing (probing, writing, waiting). huey drops a task its
worker died running, so this also proves the reconciler.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from guard.jobs.queue import make_queue
from guard.outcomes import VerdictKind
from guard.store import VerificationState
from tests.jobs_world import POLICY_PATH, JobsWorld, jobs_world, policy_text, wait_for

pytestmark = pytest.mark.slow

WORKER_OPTIONS = [
    "--threads=2",
    "--tick=0.05",
    "--reconcile-every=0.3",
    "--grace=0.3",
    "--lease=1",
    "--no-github-pacing",
]


@contextmanager
def worker_process(world: JobsWorld, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`deploy-guard worker` in its own process, with this world's settings."""
    environment = {**os.environ, **world.environ(GUARD_LOG_FORMAT="text")}
    command = [sys.executable, "-c", "from guard.cli import main; main()", "worker"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, *WORKER_OPTIONS], env=environment, stdout=output, stderr=output
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_verification_survives_kill_9_of_its_worker(tmp_path: Path) -> None:
    files = {POLICY_PATH: policy_text(interval="300ms", duration="1800ms")}
    log = tmp_path / "workers.log"
    with jobs_world(tmp_path, files) as world:
        deployment_id = world.deploy()
        queue = make_queue(world.settings())
        try:
            queue.enqueue_verification(deployment_id)
        finally:
            queue.close()

        with worker_process(world, log) as first:
            row = wait_for(
                "round 2 of 6",
                lambda: (
                    (found := world.verification(deployment_id)) is not None
                    and found.rounds_done >= 2
                    and found
                ),
            )
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        killed_at = world.verification(deployment_id)
        assert killed_at is not None
        assert killed_at.state is VerificationState.WATCHING, log.read_text()
        assert 2 <= killed_at.rounds_done < killed_at.rounds_planned == 6

        with worker_process(world, log):
            row = wait_for("the verdict", lambda: world.finished(deployment_id))

        assert (row.state, row.verdict) == (VerificationState.FINISHED, VerdictKind.PASS)
        assert row.rounds_done == row.rounds_planned == 6
        per_probe_and_round = Counter(world.results(row.id))
        assert set(per_probe_and_round.values()) == {1}, per_probe_and_round
        assert sorted(per_probe_and_round) == [
            (0, "api health"),
            (0, "home page"),
            *((number, "health") for number in range(1, 7)),
        ]
        (check_run,) = world.check_runs()
        assert (check_run["status"], check_run["conclusion"]) == ("completed", "success")
        assert check_run["id"] == row.check_run_id
        kinds = Counter(kind for kind, _ in world.timeline(deployment_id))
        assert kinds["round_recorded"] == 6
        assert kinds["check_run_created"] == kinds["verification_finished"] == 1
