"""Retries for every GitHub call, declared once: what is transient, how long to wait, when to stop.

PyGithub's own `GithubRetry` also retries POST, which can file a second issue or make a
second deployment after a timeout, and it sleeps inside urllib3 where tests cannot see it.
So PyGithub runs with `retry=None` and every call goes through `Retrier.run` instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from github.GithubException import GithubException
from urllib3.exceptions import ConnectTimeoutError

from guard.github.errors import (
    AmbiguousWriteError,
    ErrorKind,
    GitHubError,
    GitHubUnavailableError,
    NotFoundError,
    RateLimitWaitTooLongError,
    RefusedError,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

# GitHub's secondary-limit messages; a 403 that says neither is a permission problem.
_RATE_LIMIT_PHRASES = ("rate limit", "please retry your request again later")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Waits are in seconds; `max_total_wait_s` bounds all sleeps of one call."""

    max_attempts: int = 5
    max_total_wait_s: float = 120.0
    base_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # GitHub: after a secondary limit without Retry-After, wait at least a minute.
    secondary_limit_wait_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_backoff_s, self.base_backoff_s * 2 ** (attempt - 1)))


def response_headers(error: BaseException) -> Mapping[str, str]:
    """The failed response's headers with lower-case names, or nothing."""
    if isinstance(error, GithubException) and error.headers:
        return {str(k).lower(): str(v) for k, v in error.headers.items()}
    return {}


def github_message(error: GithubException) -> str:
    """GitHub's own words for a failure: `message` plus any validation `errors`."""
    data: Any = error.data
    if not isinstance(data, Mapping):
        return str(data or error.message or "")[:500]
    message = str(data.get("message") or "")
    details = []
    for item in data.get("errors") or ():
        if isinstance(item, Mapping):
            details.append(str(item.get("message") or item.get("code") or ""))
        else:
            details.append(str(item))
    details = [d for d in details if d and d not in message]
    return "; ".join([message, *details]) if details else message


def is_rate_limited(error: BaseException) -> bool:
    """A primary or secondary rate limit: 429, or a 403 that GitHub marks as one."""
    if not isinstance(error, GithubException):
        return False
    if error.status == 429:
        return True
    if error.status != 403:
        return False
    headers = response_headers(error)
    if "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0":
        return True
    message = github_message(error).lower()
    return any(phrase in message for phrase in _RATE_LIMIT_PHRASES)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (requests hides urllib3's reason in args)."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def classify(error: BaseException) -> ErrorKind:
    """The one place that decides what a failure means."""
    if isinstance(error, GitHubError):
        return error.kind
    if isinstance(error, GithubException):
        if is_rate_limited(error) or error.status >= 500:
            return ErrorKind.RETRY
        if error.status in (404, 410):
            return ErrorKind.NOT_FOUND
        if error.status in (403, 409, 422):
            return ErrorKind.REFUSED
        return ErrorKind.FATAL
    if isinstance(
        error,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    ):
        return ErrorKind.RETRY
    return ErrorKind.FATAL


def may_have_been_applied(error: BaseException) -> bool:
    """True when a failed write may still have happened on GitHub's side.

    A rate limit is a refusal before any work; a connection never made sent nothing. A 5xx,
    a read timeout or a connection dropped mid-answer may come after the write was done.
    """
    if is_rate_limited(error):
        return False
    if isinstance(error, GithubException):
        return error.status >= 500
    if isinstance(error, requests.ConnectTimeout):
        return False
    if isinstance(error, requests.ConnectionError) and any(
        isinstance(c, ConnectTimeoutError) for c in _causes(error)
    ):
        # urllib3's NewConnectionError and NameResolutionError are ConnectTimeoutErrors too.
        return False
    return classify(error) is ErrorKind.RETRY


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def wait_before_retry(error: BaseException, attempt: int, policy: RetryPolicy, now: float) -> float:
    """Seconds to wait before the next attempt, honouring what GitHub asked for."""
    headers = response_headers(error)
    asked = _retry_after(headers, now)
    if asked is not None:
        return asked
    if is_rate_limited(error):
        reset = headers.get("x-ratelimit-reset", "")
        if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            # The reset is whole epoch seconds; one more second lands after it for sure.
            return max(0.0, int(reset) - now) + 1.0
        return max(policy.secondary_limit_wait_s, policy.backoff(attempt))
    return policy.backoff(attempt)


def describe(error: BaseException) -> str:
    """A short, secret-free account of a failure for messages and logs."""
    if isinstance(error, GithubException):
        message = github_message(error)
        return f"HTTP {error.status}: {message}" if message else f"HTTP {error.status}"
    return f"{type(error).__name__}: {error}"


def to_github_error(error: BaseException, what: str) -> GitHubError:
    """Our typed error for a failure we will not retry (or no longer)."""
    if isinstance(error, GitHubError):
        return error
    status = error.status if isinstance(error, GithubException) else None
    message = f"{what}: {describe(error)}"
    kind = classify(error)
    if kind is ErrorKind.NOT_FOUND:
        return NotFoundError(message, status=status)
    if kind is ErrorKind.REFUSED:
        return RefusedError(message, status=status)
    if kind is ErrorKind.RETRY:
        return GitHubUnavailableError(message, status=status)
    return GitHubError(message, status=status)


class Retrier:
    """Runs one GitHub call with the policy; sleeping and the clock are injectable."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock

    def run(
        self,
        what: str,
        call: Callable[[], T],
        *,
        repeatable: bool = True,
        recover: Callable[[], T | None] | None = None,
        refresh_credentials: Callable[[], bool] | None = None,
    ) -> T:
        """Call until it succeeds, fails for good, or the budget runs out.

        `repeatable=False` marks a create: after a failure that may have been applied it is
        sent again only when `recover` (a lookup of what the first attempt made) finds
        nothing; without `recover` it raises AmbiguousWriteError. `refresh_credentials` is asked
        once after a 401 (an installation token revoked early) and the call repeated if True.
        """
        waited = 0.0
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                return call()
            except (GithubException, requests.RequestException) as error:
                # Only GitHub's answers and transport failures are ours to judge: our own
                # typed errors and plain bugs (a ValueError) pass through untouched.
                if (
                    isinstance(error, GithubException)
                    and error.status == 401
                    and refresh_credentials is not None
                    and not refreshed
                ):
                    refreshed = True
                    if refresh_credentials():
                        continue
                if classify(error) is not ErrorKind.RETRY:
                    raise to_github_error(error, what) from error
                ambiguous = may_have_been_applied(error)
                if ambiguous and not repeatable and recover is None:
                    raise AmbiguousWriteError(
                        f"{what}: {describe(error)}; not sent again, it may have been applied",
                        status=getattr(error, "status", None),
                    ) from error
                wait = wait_before_retry(error, attempt, self.policy, self._clock())
                self._check_budget(what, error, attempt, waited, wait)
                log.warning(
                    "github_call_retry",
                    extra={
                        "what": what,
                        "attempt": attempt,
                        "wait_s": wait,
                        "error": describe(error),
                    },
                )
                self._sleep(wait)
                waited += wait
                if ambiguous and recover is not None:
                    found = recover()
                    if found is not None:
                        log.info("github_write_recovered", extra={"what": what})
                        return found

    def _check_budget(
        self, what: str, error: BaseException, attempt: int, waited: float, wait: float
    ) -> None:
        status = getattr(error, "status", None)
        if attempt >= self.policy.max_attempts:
            raise GitHubUnavailableError(
                f"{what}: gave up after {attempt} attempts; last: {describe(error)}", status=status
            ) from error
        if waited + wait > self.policy.max_total_wait_s:
            if is_rate_limited(error):
                raise RateLimitWaitTooLongError(
                    f"{what}: rate limited; GitHub asks for {wait:.0f} s, more than the "
                    f"{self.policy.max_total_wait_s:.0f} s retry budget",
                    wait_s=wait,
                    status=status,
                ) from error
            raise GitHubUnavailableError(
                f"{what}: retry budget of {self.policy.max_total_wait_s:.0f} s spent; "
                f"last: {describe(error)}",
                status=status,
            ) from error
