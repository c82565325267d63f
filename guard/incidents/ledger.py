"""Which comments the guard already posted: the port cannot list comments, so we remember them.

A comment is claimed before it is posted and released only when posting certainly failed;
an ambiguous failure keeps the claim, so a comment is posted at most once, never twice.
"""

from __future__ import annotations

import threading
from typing import Protocol


class CommentLedger(Protocol):
    """Remembers claimed comments; a database-backed ledger makes this hold across replicas."""

    def claim(self, repository: str, number: int, key: str) -> bool:
        """True when this comment was not claimed before (and now is)."""
        ...

    def release(self, repository: str, number: int, key: str) -> None:
        """Forget a claim whose comment certainly was not posted, so it can be tried again."""
        ...


class MemoryLedger:
    """A ledger for one process: enough for tests and the demo, not for several replicas."""

    def __init__(self) -> None:
        self._claimed: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()

    def claim(self, repository: str, number: int, key: str) -> bool:
        with self._lock:
            entry = (repository.lower(), number, key)
            if entry in self._claimed:
                return False
            self._claimed.add(entry)
            return True

    def release(self, repository: str, number: int, key: str) -> None:
        with self._lock:
            self._claimed.discard((repository.lower(), number, key))

    def claimed(self) -> frozenset[tuple[str, int, str]]:
        with self._lock:
            return frozenset(self._claimed)


def _conforms(ledger: MemoryLedger) -> CommentLedger:
    # mypy checks here, once, that the memory ledger really is a ledger.
    return ledger
