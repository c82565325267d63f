"""Typed failures of GitHub calls, classified once, so the domain never catches PyGithub's."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    """What a caller may do about a failure."""

    # Transient: a 5xx, a connection error, a timeout or a rate limit. Try again later.
    RETRY = "retry"
    NOT_FOUND = "not_found"
    # GitHub understood the request and declined it: a rule, a conflict, a validation.
    REFUSED = "refused"
    # Bad credentials, a malformed request, anything we do not know how to handle.
    FATAL = "fatal"


class GitHubError(Exception):
    """Any failure talking to GitHub; `message` is GitHub's own words where it gave some."""

    kind: ClassVar[ErrorKind] = ErrorKind.FATAL

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NotFoundError(GitHubError):
    """The repository, file, ref or object does not exist (or the token cannot see it)."""

    kind = ErrorKind.NOT_FOUND


class RefusedError(GitHubError):
    """GitHub declined the request: 403 without a rate limit, 409 or 422."""

    kind = ErrorKind.REFUSED


class RefUpdateRefused(RefusedError):  # noqa: N818 - the name remedies already use
    """A branch could not be moved: protected, not a fast-forward, or required checks missing."""

    def __init__(self, branch: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"refs/heads/{branch}: {message}", status=status)
        self.branch = branch
        self.reason = message


class GitHubUnavailableError(GitHubError):
    """GitHub kept failing transiently until the retry budget ran out."""

    kind = ErrorKind.RETRY


class RateLimitWaitTooLongError(GitHubUnavailableError):
    """A rate limit asked for a longer wait than the retry budget allows; we did not sleep."""

    def __init__(self, message: str, *, wait_s: float, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.wait_s = wait_s


class AmbiguousWriteError(GitHubUnavailableError):
    """A create failed in a way that may have happened anyway, and nothing can tell us which.

    Raised instead of sending the create again, which could make a duplicate.
    """
