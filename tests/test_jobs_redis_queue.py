"""The Redis queue: priorities as on SQLite, and the jobs an older guard left in its list."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huey import RedisHuey

from guard.jobs.queue import JobQueue, make_queue
from guard.jobs.redis_queue import move_listed_jobs
from tests.test_jobs_queue import settings_for

pytestmark = pytest.mark.redis


@pytest.fixture
def queue_name() -> str:
    return f"deploy-guard-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def queue(tmp_path: Path, redis_url: str, queue_name: str) -> Iterator[JobQueue]:
    made = make_queue(settings_for(tmp_path, GUARD_QUEUE_URL=redis_url), name=queue_name)
    try:
        yield made
    finally:
        made.huey.flush()
        made.close()


def older_guard(tmp_path: Path, redis_url: str, queue_name: str) -> JobQueue:
    """The guard before priorities on Redis: its jobs on huey's plain RedisHuey, a list."""
    settings = settings_for(tmp_path, GUARD_QUEUE_URL=redis_url)
    return JobQueue(RedisHuey(queue_name, url=redis_url, results=False, utc=True), settings)


def listed(queue: JobQueue) -> list[tuple[str, tuple[object, ...]]]:
    return [(task.name, tuple(task.args)) for task in queue.huey.pending()]


def test_rounds_and_resumes_go_before_the_starts_queued_earlier(queue: JobQueue) -> None:
    queue.enqueue_verification(41)
    queue.enqueue_verification(42)
    queue.schedule_round(7, 1, 0)
    queue.enqueue_resume(8)
    assert listed(queue) == [
        ("run_round", (7, 1)),
        ("resume_verification", (8,)),
        ("start_verification", (41,)),
        ("start_verification", (42,)),
    ]
    # What a worker takes first is the round, whatever was queued before it.
    first = queue.huey.dequeue()
    assert (first.name, tuple(first.args)) == ("run_round", (7, 1))
    assert queue.pending() == 3


def test_jobs_an_older_guard_left_in_its_list_are_moved_in_their_order(
    tmp_path: Path, redis_url: str, queue_name: str, queue: JobQueue
) -> None:
    older = older_guard(tmp_path, redis_url, queue_name)
    try:
        older.enqueue_verification(41)
        older.schedule_round(7, 3, 0)
        older.enqueue_verification(42)
        assert older.huey.storage.conn.type(older.huey.storage.queue_key) == b"list"

        # The upgraded guard's first look at its queue finds them, oldest first, ahead of
        # the starts it queues itself; its own round still goes first of all.
        queue.enqueue_verification(43)
        queue.schedule_round(9, 1, 0)
        assert older.huey.storage.conn.type(older.huey.storage.queue_key) == b"zset"
        assert listed(queue) == [
            ("run_round", (9, 1)),
            ("start_verification", (41,)),
            ("run_round", (7, 3)),
            ("start_verification", (42,)),
            ("start_verification", (43,)),
        ]
        taken = [queue.huey.dequeue() for _ in range(5)]
        assert [tuple(task.args) for task in taken] == [(9, 1), (41,), (7, 3), (42,), (43,)]
    finally:
        older.close()


def test_a_worker_meeting_the_list_first_takes_the_oldest_job(
    tmp_path: Path, redis_url: str, queue_name: str, queue: JobQueue
) -> None:
    older = older_guard(tmp_path, redis_url, queue_name)
    try:
        older.enqueue_verification(41)
        older.enqueue_verification(42)
        # A worker's blocking dequeue is the first thing to touch the key.
        task = queue.huey.dequeue()
        assert (task.name, tuple(task.args)) == ("start_verification", (41,))
        assert listed(queue) == [("start_verification", (42,))]
    finally:
        older.close()


def test_moving_leaves_a_sorted_set_or_a_missing_key_alone(queue: JobQueue) -> None:
    storage = queue.huey.storage
    assert move_listed_jobs(storage.conn, storage.queue_key) == 0
    queue.enqueue_verification(41)
    assert move_listed_jobs(storage.conn, storage.queue_key) == 0
    assert listed(queue) == [("start_verification", (41,))]


def test_an_empty_list_left_behind_is_simply_replaced(queue: JobQueue) -> None:
    storage = queue.huey.storage
    # Redis drops an empty list's key, so a list is never empty: one job, then taken.
    storage.conn.lpush(storage.queue_key, b"x")
    storage.conn.rpop(storage.queue_key)
    queue.enqueue_verification(41)
    assert listed(queue) == [("start_verification", (41,))]
