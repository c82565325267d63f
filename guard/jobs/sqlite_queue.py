"""huey's SQLite queue for the guard: no fsync per queue operation, due jobs moved at once.

huey's SqliteStorage keeps one connection per process behind a lock, in WAL mode with
SQLite's default `synchronous=FULL`: every enqueue, dequeue and schedule move fsyncs the
file while the process's other threads wait for the lock. The guard's database, not this
file, is the source of truth of a verification (its state, its next round's due time), and
the reconciler queues `resume` for any open verification whose next step is overdue and
whose job is not in the queue (`records.needing_a_push`, `JobQueue.reconcile`). So the
queue file runs with `synchronous=NORMAL`: in WAL mode a commit survives the process being
killed (kill -9) all the same; only an operating-system crash or power cut can drop the last
commits, and the jobs they held are found again by the reconciler.

huey's scheduler moves due jobs from the schedule to the queue with one transaction to read
them and one more per job to queue it; `move_due` does it in one transaction, so a tick with
many due rounds costs one commit, and no job is ever out of both tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from huey import SqliteHuey
from huey.storage import SqliteStorage


class GuardSqliteStorage(SqliteStorage):  # type: ignore[misc]  # huey has no type hints
    """SqliteStorage with `synchronous=NORMAL` and a one-transaction move of due jobs."""

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("pragma synchronous=NORMAL")
        return connection

    def move_due(self, now: datetime, priority_of: Callable[[bytes], int]) -> int:
        """Move every scheduled job due by `now` into the queue with its priority, in one
        transaction; how many."""
        params = (self.name, now.timestamp())
        # A look without the write lock first: most ticks find nothing due.
        if not self.sql(
            "select 1 from schedule where queue = ? and timestamp <= ? limit 1",
            params,
            results=True,
        ):
            return 0
        with self.db(commit=True) as cursor:
            cursor.execute(
                "select id, data from schedule where queue = ? and timestamp <= ? "
                "order by timestamp, id",
                params,
            )
            rows = cursor.fetchall()
            cursor.executemany(
                "insert into task (queue, data, priority) values (?, ?, ?)",
                [(self.name, data, priority_of(bytes(data))) for _, data in rows],
            )
            cursor.executemany("delete from schedule where id = ?", [(i,) for i, _ in rows])
        return len(rows)


class GuardSqliteHuey(SqliteHuey):  # type: ignore[misc]  # huey has no type hints
    """SqliteHuey on GuardSqliteStorage."""

    storage_class = GuardSqliteStorage

    def move_due(self, now: datetime | None = None) -> int:
        """Queue the scheduled jobs due by `now` (huey's clock by default); how many."""
        moment = now if now is not None else self._get_timestamp()
        storage: GuardSqliteStorage = self.storage
        return storage.move_due(moment, self._priority_of)

    def _priority_of(self, data: bytes) -> int:
        return int(self.deserialize_task(data).priority or 0)
