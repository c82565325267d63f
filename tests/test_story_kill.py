"""Kill -9 in the middle of a remedy, start another worker: one rollback, one issue.

The worker is a real process. Its rollback's deployment request is held by the sandbox (a
timeout fault); once the database says the remedy is running, the worker is SIGKILLed, and the
held request then goes through on GitHub's side, as a real request may after its client died.
The next worker resumes the abandoned remedy, finds the deployment by its idempotency key
instead of making another, and files the incident.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from guard.sandbox import FaultKind
from guard.store import RemedyState
from tests.jobs_world import wait_for
from tests.story_world import REPO, Story, settled, story_world, workers

pytestmark = pytest.mark.slow

DEPLOYMENTS = f"/repos/{REPO}/deployments"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backends(request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    if request.param == "sqlite":
        return None, None
    postgres_url: str = request.getfixturevalue("postgres_url")
    redis_url: str = request.getfixturevalue("redis_url")
    return postgres_url, redis_url


@contextmanager
def worker_process(story: Story, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tests.story_worker`: the guard's workers in a process of their own."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GUARD_")},
        **story.environ(),
    }
    command = [sys.executable, "-m", "tests.story_worker", story.queue_name]
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=output, stderr=output)
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


def running_remedy(story: Story) -> bool:
    remedies = story.remedies()
    held = story.sandbox.runtime.faults.held
    return bool(remedies) and remedies[0].state is RemedyState.RUNNING and held > 0


def test_a_remedy_survives_kill_9_of_its_worker(
    tmp_path: Path, backends: tuple[str | None, str | None]
) -> None:
    database_url, queue_url = backends
    log = tmp_path / "workers.log"
    with story_world(tmp_path, database_url=database_url, queue_url=queue_url) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        bad = story.create_deployment("main")
        # The rollback's create hangs on GitHub's side until the test lets it go.
        story.sandbox.add_fault(
            FaultKind.TIMEOUT, path=DEPLOYMENTS, method="POST", hold_seconds=120
        )

        with worker_process(story, log) as first:
            story.ship(bad, "v2")
            wait_for("the remedy under way", lambda: running_remedy(story), deadline_s=120)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        # GitHub makes the deployment anyway; the worker that asked is gone.
        story.sandbox.release_held()
        wait_for("the orphaned rollback", story.rollbacks)
        (remedy,) = story.remedies()
        assert (remedy.state, remedy.created_deployment_id) == (RemedyState.RUNNING, None)
        assert story.issues() == []

        with worker_process(story, log):
            settled(story, bad)
            wait_for("the remedy's end", lambda: story.remedies()[0].state is RemedyState.DONE)

        (rollback,) = story.rollbacks()
        (remedy,) = story.remedies()
        assert remedy.created_deployment_id == rollback.id
        assert len(story.sandbox.calls.matching("POST", DEPLOYMENTS)) == 3, log.read_text()
        (issue,) = story.issues()
        assert f"rolled back to `v1.3.2 ({story.good_sha[:7]})` with redeploy" in issue.body
        assert "Remedy resumed after an interruption" in issue.body
        (incident,) = story.incidents()
        assert incident.issue_number == issue.number
