"""Injected trouble for the next N matching calls: 5xx, rate limits, hangs, latency, bad bodies."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    SERVER_ERROR = "server_error"  # answer `status` (5xx) with GitHub's error body
    SECONDARY_RATE_LIMIT = "secondary_rate_limit"  # 403 + Retry-After + GitHub's message
    PRIMARY_RATE_LIMIT = "primary_rate_limit"  # 403, x-ratelimit-remaining 0 and a reset
    TIMEOUT = "timeout"  # hold the request until released (or hold_seconds pass), then answer
    LATENCY = "latency"  # add latency_ms before answering; adds up with the other kinds
    DROP_FIELD = "drop_field"  # answer normally but remove `field_name` from the JSON body


@dataclass
class Fault:
    """One rule. `times` None means every matching call, until cleared."""

    id: int
    kind: FaultKind
    method: str = "*"
    path: str = "*"
    times: int | None = 1
    status: int = 502
    retry_after: int = 1
    reset_after: int = 1
    latency_ms: int = 0
    hold_seconds: float = 30.0
    field_name: str | None = None
    hits: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method == "*" or self.method.upper() == method.upper()
        return method_ok and fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "status": self.status,
            "retry_after": self.retry_after,
            "reset_after": self.reset_after,
            "latency_ms": self.latency_ms,
            "hold_seconds": self.hold_seconds,
            "field_name": self.field_name,
            "hits": self.hits,
        }


@dataclass(frozen=True)
class FaultPlan:
    """What the faults decided for one call: extra latency, and at most one answer-changing rule."""

    latency_ms: int
    fault: Fault | None


class FaultInjector:
    """The active rules; thread-safe. Rules are consulted in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        # Timeout rules stay here after they are used up: requests may still be waiting on them.
        self._timeouts: list[Fault] = []
        self._next_id = 0
        self._held = 0
        self._held_changed = threading.Condition(self._lock)

    def add(self, kind: FaultKind | str, **options: Any) -> Fault:
        with self._lock:
            self._next_id += 1
            fault = Fault(id=self._next_id, kind=FaultKind(kind), **options)
            if fault.kind is FaultKind.SERVER_ERROR and not 500 <= fault.status <= 599:
                raise ValueError("a server_error fault answers with a 5xx status")
            self._faults.append(fault)
            if fault.kind is FaultKind.TIMEOUT:
                self._timeouts.append(fault)
            return fault

    def plan(self, method: str, path: str) -> FaultPlan:
        """Consume one use of the rules that match this call."""
        latency = 0
        chosen: Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                if fault.kind is FaultKind.LATENCY:
                    latency += fault.latency_ms
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return FaultPlan(latency, chosen)

    def hold(self, fault: Fault) -> bool:
        """Block the calling request until the fault is released; False if hold_seconds ran out."""
        with self._lock:
            self._held += 1
            self._held_changed.notify_all()
        try:
            return fault.released.wait(fault.hold_seconds)
        finally:
            with self._lock:
                self._held -= 1
                self._held_changed.notify_all()

    def wait_until_held(self, count: int = 1, timeout: float = 10.0) -> bool:
        """For tests: block until `count` requests are being held by timeout faults."""
        with self._lock:
            return self._held_changed.wait_for(lambda: self._held >= count, timeout)

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def release(self, fault_id: int | None = None) -> int:
        """Let held requests go on (all, or one rule's); returns how many rules were released."""
        with self._lock:
            targets = [f for f in self._timeouts if fault_id is None or f.id == fault_id]
        for fault in targets:
            fault.released.set()
        return len(targets)

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
