"""Why a remedy could not be done, in words a person acts on."""

from __future__ import annotations


class RemedyError(Exception):
    """A remedy that cannot go on; the message is one sentence for the incident and the CLI."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RevertConflictError(RemedyError):
    """`git revert` stopped on conflicts; the files are named, never resolved by guessing."""

    def __init__(self, message: str, files: tuple[str, ...]) -> None:
        super().__init__(message)
        self.files = files


class GitCommandError(RemedyError):
    """A git command in the temporary clone failed (its output is in the message, token-free)."""
