"""huey's priority queue on Redis, taking over the jobs an older guard left in its plain list.

huey's `RedisHuey` keeps the queue in a Redis list (LPUSH, BRPOP): first in, first out, so
a watch round due now waits behind every start job queued before it. `PriorityRedisHuey`
keeps it in a sorted set under the same key, dequeued by priority, then by time queued. A
guard upgraded while jobs wait in the list would fail on that key (WRONGTYPE) and strand
them, so the first time this storage meets a list under its key it moves the jobs, in
their order, into the sorted set, in one transaction.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

from huey import RedisHuey
from huey.storage import PriorityRedisStorage
from redis import Redis
from redis.exceptions import ResponseError, WatchError

from guard.observability.logs import get_logger

log = get_logger(__name__)

Result = TypeVar("Result")
# The priority jobs moved from the list get: that of a start job, the list had no others.
MOVED_PRIORITY = 0


def _queued_at(microseconds: int) -> bytes:
    """The 8-byte prefix huey's priority queue puts before each message (its time queued)."""
    return struct.pack(">Q", microseconds)


def move_listed_jobs(conn: Redis, key: str, *, clock: Callable[[], float] = time.time) -> int:
    """Move the jobs of a FIFO list at `key` into huey's priority sorted set; how many.

    Nothing happens unless `key` holds a list. Oldest first, as the list would have given
    them, and before any job queued from now on at the same priority (their times are in the
    past). WATCH makes it all or nothing against an old process pushing meanwhile.
    """
    with conn.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]  # untyped in redis-py
                kind = pipe.type(key)
                if kind not in (b"list", "list"):
                    pipe.unwatch()
                    return 0
                # LPUSH puts the newest at the head: the list reads newest first.
                newest_first = [_as_bytes(message) for message in pipe.lrange(key, 0, -1)]
                oldest_first = list(reversed(newest_first))
                first = int(clock() * 1e6) - len(oldest_first)
                moved = {
                    _queued_at(first + order) + message: -MOVED_PRIORITY
                    for order, message in enumerate(oldest_first)
                }
                pipe.multi()
                pipe.delete(key)
                if moved:
                    pipe.zadd(key, moved)
                pipe.execute()
            except WatchError:
                # Someone pushed (or took) a job meanwhile: read the list again.
                continue
            log.info("queue.moved_listed_jobs", key=key, jobs=len(oldest_first))
            return len(oldest_first)


def _as_bytes(message: bytes | str) -> bytes:
    # huey's connection pool never decodes responses; a decoding one would give str.
    return message if isinstance(message, bytes) else message.encode()


def _is_wrong_type(error: ResponseError) -> bool:
    return str(error).startswith("WRONGTYPE")


class UpgradingPriorityRedisStorage(PriorityRedisStorage):  # type: ignore[misc]  # untyped huey
    """huey's priority storage on Redis that moves an older guard's listed jobs on meeting them.

    Each queue operation is tried as is; only a WRONGTYPE answer (a list under the key, left
    by an older guard or pushed by one still running) moves the jobs, then tries once more.
    """

    def _on_sorted_set(self, operation: Callable[[], Result]) -> Result:
        try:
            return operation()
        except ResponseError as error:
            if not _is_wrong_type(error):
                raise
        move_listed_jobs(self.conn, self.queue_key)
        return operation()

    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        parent: Any = super()
        self._on_sorted_set(lambda: parent.enqueue(data, priority))

    def dequeue(self) -> bytes | None:
        parent: Any = super()
        dequeued: bytes | None = self._on_sorted_set(parent.dequeue)
        return dequeued

    def queue_size(self) -> int:
        parent: Any = super()
        return int(self._on_sorted_set(parent.queue_size))

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        parent: Any = super()
        items: list[bytes] = self._on_sorted_set(lambda: parent.enqueued_items(limit))
        return items


class GuardRedisHuey(RedisHuey):  # type: ignore[misc]  # huey has no type hints
    """RedisHuey on the upgrading priority storage: rounds and resumes go before starts."""

    storage_class = UpgradingPriorityRedisStorage


def make_redis_huey(queue_url: str, name: str) -> Any:
    """The guard's huey on Redis (no results: every outcome a job has is in the database)."""
    return GuardRedisHuey(name, url=queue_url, results=False, utc=True)
