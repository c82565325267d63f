"""GitHub's primary rate limit, counted per caller in hourly windows, and its response headers."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from guard.sandbox.auth import Clock

WINDOW_SECONDS = 3600
# Per-hour limits GitHub applies (github-facts.md section 6); the sandbox may be set lower.
ANONYMOUS_LIMIT = 60
AUTHENTICATED_LIMIT = 5000


@dataclass(frozen=True)
class RateInfo:
    limit: int
    remaining: int
    used: int
    reset: int
    resource: str = "core"

    @property
    def exhausted(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(min(self.used, self.limit)),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-resource": self.resource,
        }

    def as_dict(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "used": min(self.used, self.limit),
            "reset": self.reset,
        }


class RateLimiter:
    """Counts calls per caller key (an installation, a user, an App, or an address)."""

    def __init__(self, clock: Clock, authenticated_limit: int = AUTHENTICATED_LIMIT) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self.authenticated_limit = authenticated_limit

    def limit_for(self, key: str) -> int:
        return ANONYMOUS_LIMIT if key.startswith("anonymous") else self.authenticated_limit

    def hit(self, key: str, *, count: bool = True) -> RateInfo:
        """Count one call (unless count=False, as for GET /rate_limit) and report the window."""
        now = self._clock.now()
        with self._lock:
            started, used = self._windows.get(key, (now, 0))
            if now >= started + WINDOW_SECONDS:
                started, used = now, 0
            if count:
                used += 1
            self._windows[key] = (started, used)
        limit = self.limit_for(key)
        return RateInfo(
            limit=limit,
            remaining=max(limit - used, 0),
            used=used,
            reset=int(started + WINDOW_SECONDS),
        )

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
