"""The retry policy on its own: classification, waits asked for by GitHub, and the budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import requests
from github.GithubException import GithubException
from hypothesis import given
from hypothesis import strategies as st
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from guard.github.errors import (
    AmbiguousWriteError,
    ErrorKind,
    GitHubUnavailableError,
    NotFoundError,
    RateLimitWaitTooLongError,
    RefusedError,
)
from guard.github.models import truncate_description
from guard.github.retry import (
    Retrier,
    RetryPolicy,
    classify,
    is_rate_limited,
    may_have_been_applied,
    wait_before_retry,
)
from guard.github.transport import OTHER_ROUTE, HeaderAuth, build_requester, route_template

NOW = 1_800_000_000.0
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def http_error(status: int, message: str = "", **headers: str) -> GithubException:
    return GithubException(
        status, {"message": message}, {k.replace("_", "-"): v for k, v in headers.items()}
    )


def refused_connection() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def dropped_connection() -> requests.ConnectionError:
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (http_error(502, "Server Error"), ErrorKind.RETRY),
        (http_error(429, "slow down"), ErrorKind.RETRY),
        (http_error(403, SECONDARY), ErrorKind.RETRY),
        (http_error(403, "API rate limit exceeded for installation ID 3."), ErrorKind.RETRY),
        (http_error(403, "Resource not accessible by integration"), ErrorKind.REFUSED),
        (http_error(422, "Reference already exists"), ErrorKind.REFUSED),
        (http_error(409, "Merge conflict"), ErrorKind.REFUSED),
        (http_error(404, "Not Found"), ErrorKind.NOT_FOUND),
        (http_error(401, "Bad credentials"), ErrorKind.FATAL),
        (http_error(400, "Problems parsing JSON"), ErrorKind.FATAL),
        (requests.ReadTimeout("read timed out"), ErrorKind.RETRY),
        (refused_connection(), ErrorKind.RETRY),
        (ValueError("a bug of ours"), ErrorKind.FATAL),
    ],
)
def test_classify_decides_once_what_a_failure_means(error: BaseException, kind: ErrorKind) -> None:
    assert classify(error) is kind


def test_a_403_is_a_rate_limit_only_when_github_marks_it_so() -> None:
    assert is_rate_limited(http_error(403, "whatever", retry_after="5"))
    assert is_rate_limited(http_error(403, "whatever", x_ratelimit_remaining="0"))
    assert not is_rate_limited(http_error(403, "Resource not accessible by integration"))
    assert not is_rate_limited(http_error(500, SECONDARY))


@pytest.mark.parametrize(
    ("error", "applied"),
    [
        (http_error(502), True),
        (requests.ReadTimeout(), True),
        (dropped_connection(), True),
        (refused_connection(), False),
        (requests.ConnectTimeout(), False),
        (http_error(403, SECONDARY, retry_after="3"), False),
        (http_error(429), False),
    ],
)
def test_only_failures_after_sending_are_ambiguous(error: BaseException, applied: bool) -> None:
    assert may_have_been_applied(error) is applied


def test_waits_follow_retry_after_then_reset_then_backoff() -> None:
    policy = RetryPolicy(base_backoff_s=2, max_backoff_s=10, secondary_limit_wait_s=60)
    assert wait_before_retry(http_error(403, SECONDARY, retry_after="7"), 1, policy, NOW) == 7
    primary = http_error(
        403,
        "API rate limit exceeded",
        x_ratelimit_remaining="0",
        x_ratelimit_reset=str(int(NOW) + 30),
    )
    assert wait_before_retry(primary, 1, policy, NOW) == 31
    assert wait_before_retry(http_error(403, SECONDARY), 1, policy, NOW) == 60
    assert [wait_before_retry(http_error(503), n, policy, NOW) for n in (1, 2, 3, 4)] == [
        2,
        4,
        8,
        10,
    ]


def test_retry_after_may_be_an_http_date() -> None:
    error = http_error(429, "", retry_after="Fri, 15 Jan 2027 08:00:10 GMT")
    now = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()
    assert wait_before_retry(error, 1, RetryPolicy(), now) == pytest.approx(10)


class Script:
    """A call that fails with the given errors, then answers `done`."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def retrier(policy: RetryPolicy | None = None) -> tuple[Retrier, list[float]]:
    slept: list[float] = []
    return Retrier(policy, sleep=slept.append, clock=lambda: NOW), slept


def test_transient_failures_are_retried_with_the_asked_waits() -> None:
    run, slept = retrier()
    call = Script(http_error(502), http_error(403, SECONDARY, retry_after="4"))
    assert run.run("read", call) == "done"
    assert call.calls == 3
    assert slept == [1.0, 4.0]


def test_a_wait_longer_than_the_budget_raises_instead_of_sleeping() -> None:
    run, slept = retrier(RetryPolicy(max_total_wait_s=60))
    reset = str(int(NOW) + 3600)
    call = Script(
        http_error(
            403, "API rate limit exceeded", x_ratelimit_remaining="0", x_ratelimit_reset=reset
        )
    )
    with pytest.raises(RateLimitWaitTooLongError) as raised:
        run.run("read", call)
    assert raised.value.wait_s == 3601
    assert slept == []


def test_attempts_are_bounded() -> None:
    run, slept = retrier(RetryPolicy(max_attempts=3))
    call = Script(*(http_error(500) for _ in range(5)))
    with pytest.raises(GitHubUnavailableError, match="gave up after 3 attempts"):
        run.run("read", call)
    assert call.calls == 3
    assert len(slept) == 2


def test_non_transient_failures_become_typed_errors_at_once() -> None:
    run, slept = retrier()
    with pytest.raises(NotFoundError):
        run.run("read", Script(http_error(404, "Not Found")))
    with pytest.raises(RefusedError, match="Protected branch update failed"):
        run.run("write", Script(http_error(422, "Protected branch update failed")))
    assert slept == []


def test_an_ambiguous_create_without_a_lookup_is_not_sent_again() -> None:
    run, slept = retrier()
    call = Script(requests.ReadTimeout())
    with pytest.raises(AmbiguousWriteError):
        run.run("create", call, repeatable=False)
    assert (call.calls, slept) == (1, [])


def test_an_ambiguous_create_looks_before_creating_again() -> None:
    run, _ = retrier()
    found_it: Callable[[], str | None] = lambda: "made by the first attempt"  # noqa: E731
    call = Script(http_error(502))
    assert (
        run.run("create", call, repeatable=False, recover=found_it) == "made by the first attempt"
    )
    assert call.calls == 1
    again = Script(http_error(502))
    assert run.run("create", again, repeatable=False, recover=lambda: None) == "done"
    assert again.calls == 2


def test_a_rate_limited_create_is_sent_again_without_looking() -> None:
    run, slept = retrier()
    looked: list[bool] = []

    def recover() -> str | None:
        looked.append(True)
        return None

    call = Script(http_error(403, SECONDARY, retry_after="2"))
    assert run.run("create", call, repeatable=False, recover=recover) == "done"
    assert (looked, slept) == ([], [2.0])


def test_a_401_refreshes_credentials_once() -> None:
    run, _ = retrier()
    refreshed: list[bool] = []

    def refresh() -> bool:
        refreshed.append(True)
        return True

    assert (
        run.run("read", Script(http_error(401, "Bad credentials")), refresh_credentials=refresh)
        == "done"
    )
    with pytest.raises(Exception, match="Bad credentials"):
        run.run(
            "read",
            Script(*(http_error(401, "Bad credentials") for _ in range(2))),
            refresh_credentials=refresh,
        )
    assert len(refreshed) == 2


@given(st.text(max_size=400))
def test_descriptions_fit_githubs_limit(text: str) -> None:
    cut = truncate_description(text)
    assert len(cut) <= 140
    assert cut == text or cut.endswith("…")


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/repos/o/r/contents/docs/a.md", "/repos/{owner}/{repo}/contents/{path}"),
        ("/repos/o/r/git/ref/heads/feature/x", "/repos/{owner}/{repo}/git/ref/{ref}"),
        ("/repos/o/r/git/refs/heads/main", "/repos/{owner}/{repo}/git/refs/{ref}"),
        (
            "/repos/o/r/deployments/7/statuses",
            "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        ),
        ("/repos/o/r", "/repos/{owner}/{repo}"),
        (
            "/repos/o/r/commits/feature/x/check-runs",
            "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        ),
        ("/repos/o/r/commits/feature/x", "/repos/{owner}/{repo}/commits/{ref}"),
        (
            "/repos/o/r/collaborators/mona/permission",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
        ),
        (
            "/app/installations/3/access_tokens",
            "/app/installations/{installation_id}/access_tokens",
        ),
        ("/user/repos", OTHER_ROUTE),
    ],
)
def test_paths_map_to_few_route_labels(path: str, route: str) -> None:
    assert route_template(path) == route


def test_ghes_paths_are_labelled_without_their_api_prefix() -> None:
    seen: list[tuple[str, str, int | None, int | None]] = []
    requester = build_requester(
        HeaderAuth(lambda: "unused"),
        "https://ghe.example/api/v3",
        observer=lambda *call: seen.append(call),
    )
    # Our own calls pass relative paths; pages that follow a Link header pass absolute URLs.
    requester._notify("GET", "/repos/o/r/deployments", 200, 10)
    requester._notify("GET", "https://ghe.example/api/v3/repos/o/r/deployments?page=2", 200, 9)
    assert seen == [("GET", "/repos/{owner}/{repo}/deployments", 200, r) for r in (10, 9)]
