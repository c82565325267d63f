"""A cross-process "deliveries are being recorded" flag beside a SQLite database file.

SQLite has one write lock. The delivery dispatcher's transactions hold it for as long as a
handler runs (milliseconds), so a request recording a delivery meanwhile waits that long.
Requests therefore raise this flag (a shared `flock` on `<database>.intake`) while they
record, and the dispatcher only starts a transaction while the flag is down (it can take
the lock exclusively): GitHub's acknowledgement goes before background work. The kernel drops
the lock of a process that dies, so a killed web worker never leaves the flag up.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy.engine import Engine

SUFFIX: Final = ".intake"


def flag_path(engine: Engine) -> str | None:
    """The flag's file for a SQLite database file; None for PostgreSQL or an in-memory one."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + SUFFIX


class IntakeFlag:
    """One process's side of the flag: raised while any of its threads records a delivery."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._raised_by = 0
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # A forked child must not share its parent's open file (and so its lock).
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def raised(self) -> Iterator[None]:
        """Hold the flag up for the duration (shared with the process's other recorders)."""
        with self._lock:
            if self._raised_by == 0:
                fcntl.flock(self._file(), fcntl.LOCK_SH)
            self._raised_by += 1
        try:
            yield
        finally:
            with self._lock:
                self._raised_by -= 1
                if self._raised_by == 0:
                    fcntl.flock(self._file(), fcntl.LOCK_UN)

    def is_down(self) -> bool:
        """Whether no process is recording a delivery right now (for the dispatcher)."""
        with self._lock:
            fd = self._file()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


def intake_flag(engine: Engine) -> IntakeFlag | None:
    """The flag of `engine`'s database, or None where there is no single write lock."""
    path = flag_path(engine)
    return IntakeFlag(path) if path is not None else None
