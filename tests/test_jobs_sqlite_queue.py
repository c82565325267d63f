"""The guard's SQLite queue file: no fsync per operation, due jobs moved in one transaction,
and a job lost from it found again by the reconciler."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.jobs.queue import make_huey, make_queue
from guard.jobs.sqlite_queue import GuardSqliteHuey
from guard.settings import load_settings

TOKEN_ONLY = {"GUARD_GITHUB_TOKEN": "ghp_not-a-real-token"}
# SQLite's numbers for PRAGMA synchronous.
NORMAL = 1


def queue_at(tmp_path: Path) -> GuardSqliteHuey:
    huey = make_huey(f"sqlite:///{tmp_path / 'queue.db'}")
    assert isinstance(huey, GuardSqliteHuey)
    return huey


def test_the_queue_file_commits_without_an_fsync_in_wal_mode(tmp_path: Path) -> None:
    huey = queue_at(tmp_path)
    try:
        connection = huey.storage.conn
        assert connection.execute("pragma synchronous").fetchone()[0] == NORMAL
        # WAL: a commit is in the file's log once written, so kill -9 loses none of them.
        assert connection.execute("pragma journal_mode").fetchone()[0] == "wal"
    finally:
        huey.storage.close()


def test_due_jobs_move_into_the_queue_at_once_with_their_priorities(tmp_path: Path) -> None:
    settings = load_settings(
        {**TOKEN_ONLY, "GUARD_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}"},
        require_webhook_secret=False,
    )
    queue = make_queue(settings)
    huey: GuardSqliteHuey = queue.huey
    try:
        queue.enqueue_verification(41)
        queue.schedule_round(7, 2, 5)
        queue.schedule_round(8, 3, 5)
        queue.schedule_round(9, 4, 3600)
        now = datetime.now(UTC).replace(tzinfo=None)
        # Nothing is due yet.
        assert huey.move_due(now) == 0
        assert huey.scheduled_count() == 3

        assert huey.move_due(now + timedelta(seconds=10)) == 2
        # The rounds go before the start queued earlier; the late round stays scheduled.
        assert [(task.name, task.args) for task in huey.pending()] == [
            ("run_round", (7, 2)),
            ("run_round", (8, 3)),
            ("start_verification", (41,)),
        ]
        assert [task.args for task in huey.scheduled()] == [(9, 4)]
        # Moved means gone from the schedule: a second move queues nothing twice.
        assert huey.move_due(now + timedelta(seconds=10)) == 0
        assert huey.pending_count() == 3
    finally:
        queue.close()


def test_a_failed_move_leaves_every_job_in_the_schedule(tmp_path: Path) -> None:
    huey = queue_at(tmp_path)
    try:
        huey.storage.add_to_schedule(b"not a pickled task", datetime(2020, 1, 1))
        with pytest.raises(pickle.UnpicklingError):
            huey.move_due(datetime(2030, 1, 1))
        # One transaction: nothing was deleted from the schedule, nothing queued.
        assert huey.storage.schedule_size() == 1
        assert huey.storage.queue_size() == 0
    finally:
        huey.storage.close()
