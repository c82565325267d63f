"""Policy problems as a person reads them: file, line, key path and what to change."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]

# Keys that read naturally after a dot; anything else ("$.status", "X Header") is quoted.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_key_path(path: KeyPath) -> str:
    """`("environments", "prod", "smoke", 0, "get")` -> `environments.prod.smoke[0].get`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            text += f'["{escaped}"]'
    return text


@dataclass(frozen=True)
class PolicyIssue:
    """One problem: `deploy-guard.yml:23: environments.production.watch.interval: <message>`."""

    filename: str
    # 1-based; None when the problem is about the file as a whole (it cannot be read).
    line: int | None
    # The dotted key path (`environments.production.smoke[0].get`); empty for the document.
    key_path: str
    message: str

    def render(self) -> str:
        where = self.filename if self.line is None else f"{self.filename}:{self.line}"
        subject = f"{self.key_path}: " if self.key_path else ""
        return f"{where}: {subject}{self.message}"


def _reading_order(issue: PolicyIssue) -> int:
    return issue.line or 0


class PolicyError(Exception):
    """A policy that cannot be used, with every problem found in it, in line order."""

    def __init__(self, issues: Iterable[PolicyIssue]) -> None:
        # By line; on one line, in the order found (document order), each problem once.
        unique = dict.fromkeys(issues)
        self.issues: tuple[PolicyIssue, ...] = tuple(sorted(unique, key=_reading_order))
        if not self.issues:
            raise ValueError("a PolicyError needs at least one issue")
        super().__init__(self.render())

    def render(self) -> str:
        """One line per issue."""
        return "\n".join(issue.render() for issue in self.issues)

    def __str__(self) -> str:
        return self.render()

    @property
    def filename(self) -> str:
        return self.issues[0].filename


class PolicyReadError(PolicyError):
    """The policy file could not be read at all (missing, a directory, not UTF-8, ...)."""


class UnknownEnvironmentError(PolicyError):
    """The policy has no section for the environment that was asked for."""

    def __init__(self, issue: PolicyIssue, name: str, known: Iterable[str]) -> None:
        super().__init__([issue])
        self.name = name
        self.known = tuple(known)
