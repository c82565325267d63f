"""Engines of the verifications this process stepped, so a round need not re-read every result.

A verification's stored probe results only ever grow, one whole step at a time, in the same
transaction that moves `rounds_done` (or `smoke_recorded_at`): the row's step columns name
the results exactly. An engine kept under those columns is therefore the engine the stored
results would rebuild; when another worker (or replica) ran a step since, the columns differ
and the caller rebuilds from the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from guard.store import Verification
from guard.verification import Verification as Engine

# About a kilobyte or two per engine of a 12-round watch: far below the memory goal.
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class EngineKey:
    """The columns of a verification row that fix which results are stored for it."""

    verification_id: int
    started_at: datetime | None
    smoke_recorded_at: datetime | None
    rounds_done: int

    @classmethod
    def of(cls, row: Verification) -> EngineKey:
        return cls(row.id, row.started_at, row.smoke_recorded_at, row.rounds_done)

    def after_round(self, number: int) -> EngineKey:
        """The key of the same row once round `number` is stored."""
        return replace(self, rounds_done=number)


class EngineCache:
    """Engines by verification; a step takes one out and puts the advanced one back once the
    step's results are stored, so a failed or refused store leaves nothing stale behind."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[int, tuple[EngineKey, Engine]] = OrderedDict()

    def take(self, key: EngineKey) -> Engine | None:
        """The engine stored under exactly `key`, removed from the cache; None otherwise."""
        with self._lock:
            item = self._items.pop(key.verification_id, None)
        if item is None or item[0] != key:
            return None
        return item[1]

    def put(self, key: EngineKey, engine: Engine) -> None:
        with self._lock:
            self._items[key.verification_id] = (key, engine)
            self._items.move_to_end(key.verification_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def forget(self, verification_id: int) -> None:
        with self._lock:
            self._items.pop(verification_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
