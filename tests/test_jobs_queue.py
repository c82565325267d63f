"""The queue as the service sees it: one API on SQLite and Redis, and the `worker` command."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from huey import SqliteHuey

from guard.cli import COMMANDS, main
from guard.jobs.consumer import start_embedded_workers
from guard.jobs.options import WorkerOptions
from guard.jobs.queue import make_queue
from guard.settings import Settings, load_settings
from guard.store import head_revision, upgrade

# Credentials are never used here: only the queue is touched.
TOKEN_ONLY = {"GUARD_GITHUB_TOKEN": "ghp_not-a-real-token"}


def settings_for(tmp_path: Path, **variables: str) -> Settings:
    environ = {
        **TOKEN_ONLY,
        # A database nobody can open: putting jobs on the queue must never need it.
        "GUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'guard.db'}",
        **variables,
    }
    return load_settings(environ, require_webhook_secret=False)


def test_the_default_queue_is_sqlite_beside_the_database(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    queue = make_queue(settings)
    try:
        assert isinstance(queue.huey, SqliteHuey)
        assert queue.huey.storage.filename == str(tmp_path / "missing" / "dir" / "guard-queue.db")
        assert queue.ping()
    finally:
        queue.close()


def test_jobs_are_named_messages_with_plain_arguments(tmp_path: Path) -> None:
    queue = make_queue(settings_for(tmp_path, GUARD_QUEUE_URL=f"sqlite:///{tmp_path / 'q.db'}"))
    try:
        queue.enqueue_verification(41)
        queue.enqueue_supersede("octo-org/shop", "production", 42)
        queue.schedule_round(7, 1, 0)
        queue.schedule_round(7, 2, 15)
        queue.enqueue_resume(7)
        pending = queue.huey.pending()
        # Due rounds and resumes go before the start jobs queued earlier (SQLite's queue
        # dequeues by priority): a round is due at a time, a start can wait its turn.
        assert [(task.name, task.args) for task in pending] == [
            ("run_round", (7, 1)),
            ("resume_verification", (7,)),
            ("start_verification", (41,)),
            ("supersede", ("octo-org/shop", "production", 42)),
        ]
        # A round due later waits in huey's schedule, not in the queue.
        assert [(task.name, task.args) for task in queue.huey.scheduled()] == [
            ("run_round", (7, 2))
        ]
        # A later round carries its due time; huey keeps it in its schedule until then.
        assert [task.eta is not None for task in queue.huey.scheduled()] == [True]
        assert queue.pending() == 5
    finally:
        queue.close()


@pytest.mark.redis
def test_the_same_api_runs_on_redis(tmp_path: Path, redis_url: str) -> None:
    name = f"deploy-guard-test-{uuid.uuid4().hex[:8]}"
    queue = make_queue(settings_for(tmp_path, GUARD_QUEUE_URL=redis_url), name=name)
    try:
        # huey's Redis queue, in its priority form (guard.jobs.redis_queue).
        assert type(queue.huey).__name__ == "GuardRedisHuey"
        assert queue.huey.storage.priority is True
        assert queue.ping()
        queue.enqueue_verification(41)
        assert [(task.name, task.args) for task in queue.huey.pending()] == [
            ("start_verification", (41,))
        ]
    finally:
        queue.huey.flush()
        queue.close()


def test_ping_says_no_when_redis_does_not_answer(tmp_path: Path) -> None:
    # Port 1 refuses connections at once: no wait for a timeout.
    queue = make_queue(settings_for(tmp_path, GUARD_QUEUE_URL="redis://127.0.0.1:1/0"))
    try:
        assert queue.ping() is False
    finally:
        queue.close()


def test_embedded_workers_start_and_stop_their_threads(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        GUARD_DATABASE_URL=f"sqlite:///{tmp_path / 'guard.db'}",
    )
    upgrade(settings.database_url)
    options = WorkerOptions(tick_s=0.05, reconcile_every_s=0.1, github_pacing=False)
    workers = start_embedded_workers(settings, threads=3, options=options)
    names = {thread.name for thread in threading.enumerate()}
    assert {"Worker-1", "Worker-2", "Worker-3", "Scheduler", "guard-supervisor"} <= names
    workers.stop()
    workers.stop()  # a second stop is harmless
    names = {thread.name for thread in threading.enumerate()}
    assert not names & {"Worker-1", "Worker-2", "Worker-3", "Scheduler", "guard-supervisor"}


def test_worker_is_a_command_with_its_help() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"])
    listed = {
        line.split(None, 1)[0]: line.split(None, 1)[1]
        for line in listing.output.splitlines()[-len(COMMANDS) :]
    }
    assert listed["worker"] == "Job workers only (scale-out with Redis)."
    usage = runner.invoke(main, ["worker", "--help"])
    assert usage.exit_code == 0
    for option in ("--threads", "--tick", "--reconcile-every", "--grace", "--lease"):
        assert option in usage.output


def test_worker_without_github_credentials_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in list(os.environ):
        if variable.startswith("GUARD_"):
            monkeypatch.delenv(variable)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("deploy-guard worker: no GitHub credentials")


def test_worker_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        WorkerOptions(threads=0)
    with pytest.raises(ValueError, match="tick_s must be positive"):
        WorkerOptions(tick_s=0)
    with pytest.raises(ValueError, match="grace_s cannot be negative"):
        WorkerOptions(grace_s=-1)


def test_worker_on_a_database_never_migrated_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in list(os.environ):
        if variable.startswith("GUARD_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("GUARD_GITHUB_TOKEN", "ghp_not-a-real-token")
    monkeypatch.setenv("GUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("deploy-guard worker: sqlite:///")
    assert line.endswith(
        f"is at schema none, not {head_revision()}: run `deploy-guard db upgrade` first"
    )
