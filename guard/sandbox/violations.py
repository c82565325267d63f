"""Where the sandbox's calls broke GitHub's description, as recorded in strict mode."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

# Paths of the sandbox's own control API: not GitHub's, so never checked against its description.
CONTROL_PREFIX = "/_sandbox"


@dataclass(frozen=True)
class Violation:
    """One way an answer, or a client's request, differs from GitHub's description.

    `kind` is "response" (the sandbox drifted from GitHub) or "request" (the client sent what
    GitHub would refuse; the sandbox answers it as best it can).
    """

    method: str
    path: str
    status: int
    message: str
    kind: str = "response"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ViolationLog:
    """Violations found while the sandbox runs strict; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Violation] = []

    def add(self, violation: Violation) -> None:
        with self._lock:
            self._items.append(violation)

    def all(self) -> list[Violation]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
