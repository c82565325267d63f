"""GitHub misbehaving (5xx, rate limits, lost answers): retried within bounds, never duplicated."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from guard.github.auth import TokenAuth
from guard.github.errors import (
    AmbiguousWriteError,
    GitHubUnavailableError,
    RateLimitWaitTooLongError,
)
from guard.github.retry import RetryPolicy
from guard.sandbox import FaultKind
from guard.sandbox.ratelimit import AUTHENTICATED_LIMIT as LIMIT
from tests.github_world import REPO, Call, World, sandbox_world

ISSUES = f"/repos/{REPO}/issues"
DEPLOYMENTS = f"/repos/{REPO}/deployments"
MARKER = "<!-- deploy-guard:incident deployment=7 -->"


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def wait_until(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Wait for a condition in another thread (not for time to pass); fail if it never holds."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def releasing_sleep(world: World, method: str, path: str) -> Callable[[float], None]:
    """A retry wait during which the held request finishes: GitHub did the work after all."""

    def sleep(seconds: float) -> None:
        world.slept.append(seconds)
        before = len(world.sandbox.calls.matching(method, path))
        world.sandbox.release_held()
        wait_until(lambda: len(world.sandbox.calls.matching(method, path)) > before)

    return sleep


def test_server_errors_are_retried_with_backoff(world: World) -> None:
    client = world.client()
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=f"/repos/{REPO}", status=502, times=2)
    assert client.default_branch(REPO) == "main"
    assert world.slept == [1.0, 2.0]
    assert [c.status for c in world.sandbox.calls.matching("GET", f"/repos/{REPO}")] == [
        502,
        502,
        200,
    ]


def test_a_secondary_rate_limit_waits_as_long_as_github_asks(world: World) -> None:
    client = world.client()
    world.sandbox.add_fault(FaultKind.SECONDARY_RATE_LIMIT, path=f"/repos/{REPO}", retry_after=7)
    assert client.default_branch(REPO) == "main"
    assert world.slept == [7.0]


def test_a_primary_rate_limit_waits_for_the_reset(world: World) -> None:
    client = world.client()
    world.sandbox.add_fault(FaultKind.PRIMARY_RATE_LIMIT, path=f"/repos/{REPO}", reset_after=30)
    assert client.default_branch(REPO) == "main"
    (waited,) = world.slept
    # Until x-ratelimit-reset (30 s after the refusal, in whole seconds) plus one.
    assert 29 <= waited <= 32


def test_a_reset_beyond_the_budget_raises_without_sleeping(world: World) -> None:
    client = world.client(retry_policy=RetryPolicy(max_total_wait_s=120))
    world.sandbox.add_fault(FaultKind.PRIMARY_RATE_LIMIT, path=f"/repos/{REPO}", reset_after=3600)
    with pytest.raises(RateLimitWaitTooLongError) as raised:
        client.default_branch(REPO)
    assert raised.value.wait_s > 3500
    assert world.slept == []


def test_an_issue_whose_answer_was_lost_is_found_not_filed_twice(world: World) -> None:
    client = world.client(timeout_s=1, sleep=releasing_sleep(world, "POST", ISSUES))
    world.sandbox.add_fault(FaultKind.TIMEOUT, path=ISSUES, method="POST")
    issue = client.create_issue(REPO, "Deployment 7 failed", f"Broke.\n{MARKER}", marker=MARKER)
    issues = world.sandbox.runtime.state.issues.values()
    assert [i.number for i in issues] == [issue.number]
    assert len(world.sandbox.calls.matching("POST", ISSUES)) == 1


def test_an_issue_refused_by_a_5xx_is_looked_for_then_filed_once(world: World) -> None:
    client = world.client()
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=ISSUES, method="POST", status=502)
    client.create_issue(REPO, "Deployment 7 failed", f"Broke.\n{MARKER}", marker=MARKER)
    assert len(world.sandbox.runtime.state.issues) == 1
    assert len(world.sandbox.calls.matching("GET", ISSUES)) == 1
    assert len(world.sandbox.calls.matching("POST", ISSUES)) == 2


def test_a_deployment_whose_answer_was_lost_is_found_by_its_key(world: World) -> None:
    client = world.client(timeout_s=1, sleep=releasing_sleep(world, "POST", DEPLOYMENTS))
    world.sandbox.add_fault(FaultKind.TIMEOUT, path=DEPLOYMENTS, method="POST")
    sha = world.sandbox.branch_sha(REPO)
    assert sha is not None
    made = client.create_deployment(REPO, sha, "production", idempotency_key="redeploy-7")
    stored = world.sandbox.runtime.state.deployments
    assert list(stored) == [made.id]
    assert made.idempotency_key == "redeploy-7"
    assert len(world.sandbox.calls.matching("POST", DEPLOYMENTS)) == 1


def test_a_create_without_a_way_to_look_is_not_sent_twice(world: World) -> None:
    client = world.client()
    sha = world.sandbox.branch_sha(REPO)
    assert sha is not None
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=DEPLOYMENTS, method="POST", status=500)
    with pytest.raises(AmbiguousWriteError):
        client.create_deployment(REPO, sha, "production")
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/check-runs", status=503)
    with pytest.raises(AmbiguousWriteError):
        client.create_check_run(REPO, sha, "deploy-guard", status="queued", title="t", summary="s")
    assert len(world.sandbox.calls.matching("POST", DEPLOYMENTS)) == 1
    assert len(world.sandbox.calls.matching("POST", f"/repos/{REPO}/check-runs")) == 1
    assert world.slept == []


def test_a_rate_limited_create_is_simply_sent_again(world: World) -> None:
    client = world.client()
    world.sandbox.add_fault(
        FaultKind.SECONDARY_RATE_LIMIT, path=ISSUES, method="POST", retry_after=3
    )
    client.create_issue(REPO, "Deployment 7 failed", "no marker: nothing to look for")
    assert len(world.sandbox.runtime.state.issues) == 1
    assert world.slept == [3.0]
    assert world.sandbox.calls.matching("GET", ISSUES) == []


def test_a_check_run_with_an_external_id_is_looked_up_not_made_twice(world: World) -> None:
    path = f"/repos/{REPO}/check-runs"
    client = world.client(timeout_s=1, sleep=releasing_sleep(world, "POST", path))
    sha = world.sandbox.branch_sha(REPO)
    assert sha is not None
    world.sandbox.add_fault(FaultKind.TIMEOUT, path=path, method="POST")
    made = client.create_check_run(
        REPO, sha, "deploy-guard", status="queued", title="t", summary="s", external_id="dg:1:1"
    )
    assert list(world.sandbox.runtime.state.check_runs) == [made.id]
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=path, method="POST", status=502)
    again = world.client().create_check_run(
        REPO, sha, "deploy-guard", status="queued", title="t", summary="s", external_id="dg:1:2"
    )
    # The 502 made nothing, so after looking the client sends it once more.
    assert sorted(world.sandbox.runtime.state.check_runs) == [made.id, again.id]
    assert len(world.sandbox.calls.matching("POST", path)) == 3


def test_a_lost_branch_move_is_confirmed_not_repeated(world: World) -> None:
    sleep = releasing_sleep(world, "PATCH", f"/repos/{REPO}/git/refs/heads/main")
    client = world.client(timeout_s=1, sleep=sleep)
    good = world.sandbox.branch_sha(REPO)
    assert good is not None
    ahead = world.sandbox.commit(REPO, {"x.txt": "x\n"}, branch="next", start_from=good)
    world.sandbox.add_fault(FaultKind.TIMEOUT, path=f"/repos/{REPO}/git/refs/heads/main")
    client.update_branch(REPO, "main", ahead)
    assert world.sandbox.branch_sha(REPO) == ahead
    assert len(world.sandbox.calls.matching("PATCH", f"/repos/{REPO}/git/refs/heads/*")) == 1


def test_the_observer_sees_every_call_and_the_rate_limit_left(world: World) -> None:
    client = world.client()
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/contents/*", status=502)
    client.default_branch(REPO)
    client.get_file(REPO, "app/server.py", "main")
    seen = world.observed
    assert [(c.method, c.route, c.status) for c in seen] == [
        ("GET", "/repos/{owner}/{repo}", 200),
        ("GET", "/repos/{owner}/{repo}/contents/{path}", 502),
        ("GET", "/repos/{owner}/{repo}/contents/{path}", 200),
    ]
    # Each answer's x-ratelimit-remaining, the refused one included: it counted too.
    assert [c.remaining for c in seen] == [LIMIT - 1, LIMIT - 2, LIMIT - 3]


def test_an_unreachable_github_gives_up_within_bounds(world: World) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    calls: list[Call] = []
    client = world.client(
        TokenAuth("ghp_unused"),
        base_url=f"http://127.0.0.1:{closed_port}",
        retry_policy=RetryPolicy(max_attempts=3),
        observer=lambda *args: calls.append(Call(*args)),
    )
    with pytest.raises(GitHubUnavailableError, match="gave up after 3 attempts"):
        client.default_branch(REPO)
    assert world.slept == [1.0, 2.0]
    assert calls == [Call("GET", "/repos/{owner}/{repo}", None, None)] * 3
