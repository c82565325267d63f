"""A record of every GitHub API call the sandbox answered, for tests and benchmarks."""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    seq: int
    method: str
    path: str
    query: str
    status: int
    outcome: str  # ok, client_error, server_error, rate_limited, or fault:<kind>
    auth: str  # the caller: installation:<id>, user:<login>, app:<id> or anonymous
    token_hint: str  # the credential's last four characters, never the whole secret
    request_id: str
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(status: int, fault_kind: str | None, rate_limited: bool) -> str:
    if fault_kind is not None:
        return f"fault:{fault_kind}"
    if rate_limited:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


class CallLog:
    """Append-only and thread-safe; `seq` numbers let a test look only at what came after a mark."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)
        self._records: list[CallRecord] = []
        self._seq = 0

    def record(self, **fields: Any) -> CallRecord:
        with self._lock:
            self._seq += 1
            entry = CallRecord(seq=self._seq, **fields)
            self._records.append(entry)
            self._recorded.notify_all()
            return entry

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until `count` calls have been answered in all (e.g. a released held call)."""
        with self._lock:
            return self._recorded.wait_for(lambda: self._seq >= count, timeout)

    def all(self, since: int = 0) -> list[CallRecord]:
        with self._lock:
            return [record for record in self._records if record.seq > since]

    def matching(self, method: str = "*", path: str = "*", since: int = 0) -> list[CallRecord]:
        """Calls whose method and path (a glob) match."""
        return [
            record
            for record in self.all(since)
            if (method == "*" or record.method == method.upper())
            and fnmatch.fnmatchcase(record.path, path)
        ]

    def counts(self, since: int = 0) -> dict[str, int]:
        """How many calls ended in each outcome."""
        return dict(Counter(record.outcome for record in self.all(since)))

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
