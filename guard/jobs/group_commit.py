"""Group commit: the short write transactions of a process's job threads share one commit.

On SQLite every write transaction takes the database's one write lock, and with
`synchronous=FULL` its commit waits for an fsync while every other writer waits for the
lock. With 1,000 verifications watching, two transactions per round (the claim and the
store) mean some 400 commits a second, and the job threads spent most of their time waiting
for that lock. Here a thread that finds another thread committing queues its work; the next
thread to get the turn runs every queued work in one transaction and commits once.

The batch first runs its works one after the other with nothing around each: a savepoint
per work cost as much CPU as the work itself, and the batch runs while every queued thread
waits. Works raise rarely; when one does, the batch is rolled back, that work gets its own
exception back (having run once), and the others run again in one transaction, each inside
a savepoint of its own: one that raises then rolls back alone and the rest commit. So every
work ends as it would have alone, and a work must expect to run again after a rollback (the
guard's works only read and write the database). When the commit itself fails, every work
of the batch gets that error, as each would have alone.

On PostgreSQL, where transactions commit side by side, a batch updating rows in one order
beside another transaction updating them in another can deadlock; the server then fails one
statement of one of them. A work that lost that way (or to a serialization failure), or
whose batch's commit did, runs again alone in a transaction of its own, as it would have
without group commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

Result = TypeVar("Result")

# PostgreSQL's deadlock_detected and serialization_failure: what other transactions held
# made this one fail, and alone, a moment later, it can succeed.
_LOST_TO_OTHERS_SQLSTATES = frozenset({"40P01", "40001"})


def lost_to_other_transactions(error: BaseException) -> bool:
    """Whether `error` is a deadlock or serialization failure reported by the database."""
    return (
        isinstance(error, DBAPIError)
        and getattr(error.orig, "sqlstate", None) in _LOST_TO_OTHERS_SQLSTATES
    )


@dataclass
class _Work(Generic[Result]):
    work: Callable[[Session], Result]
    result: Result | None = None
    error: BaseException | None = None
    done: bool = False

    def outcome(self) -> Result:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set when no error


class _WorkRaised(Exception):  # noqa: N818 - says what happened to the batch
    """Ends a batch's plain run: `item` raised, and the transaction is rolled back."""

    def __init__(self, item: _Work[object]) -> None:
        super().__init__()
        self.item = item


class GroupCommit:
    """Runs `work(session)` in a write transaction, sharing the commit with concurrent works
    when `grouped`; alone in a transaction of its own otherwise."""

    def __init__(self, sessions: sessionmaker[Session], *, grouped: bool) -> None:
        self._sessions = sessions
        self.grouped = grouped
        self._waiting: list[_Work[object]] = []
        self._waiting_lock = threading.Lock()
        # Held by the thread committing a batch; the others queue their work meanwhile.
        self._turn = threading.Lock()
        self.batches = 0
        self.works = 0

    def run(self, work: Callable[[Session], Result]) -> Result:
        if not self.grouped:
            with self._sessions.begin() as session:
                return work(session)
        item: _Work[Result] = _Work(work)
        with self._waiting_lock:
            self._waiting.append(item)  # type: ignore[arg-type]  # results stay with their work
        with self._turn:
            # The thread before may have committed this work in its batch.
            if not item.done:
                with self._waiting_lock:
                    batch, self._waiting = self._waiting, []
                self._commit(batch)
        return item.outcome()

    def _commit(self, batch: list[_Work[object]]) -> None:
        try:
            failed = self._commit_plainly(batch)
            if failed is not None:
                # The batch was rolled back: the others go again, each in a savepoint.
                self._commit_together([item for item in batch if item is not failed])
            for item in batch:
                if item.error is not None and lost_to_other_transactions(item.error):
                    self._commit_alone(item)
        finally:
            self.batches += 1
            self.works += len(batch)
            for item in batch:
                item.done = True

    def _commit_plainly(self, batch: list[_Work[object]]) -> _Work[object] | None:
        """Run the works in one transaction, no savepoints; the work that raised, if one did
        (the transaction is then rolled back, its error kept, the others' results dropped)."""
        try:
            with self._sessions.begin() as session:
                for item in batch:
                    try:
                        item.result = item.work(session)
                    except Exception as error:
                        item.error = error
                        raise _WorkRaised(item) from error
        except _WorkRaised as raised:
            for item in batch:
                item.result = None
            return raised.item
        except Exception as error:
            # The commit failed: nothing of the batch was kept.
            for item in batch:
                item.result = None
                item.error = item.error or error
        return None

    def _commit_together(self, batch: list[_Work[object]]) -> None:
        try:
            with self._sessions.begin() as session:
                for item in batch:
                    try:
                        with session.begin_nested():
                            item.result = item.work(session)
                    except Exception as error:
                        item.error = error
        except Exception as error:
            # The commit failed: nothing of the batch was kept.
            for item in batch:
                item.result = None
                item.error = item.error or error

    def _commit_alone(self, item: _Work[object]) -> None:
        item.result, item.error = None, None
        try:
            with self._sessions.begin() as session:
                item.result = item.work(session)
        except Exception as error:
            item.result, item.error = None, error
