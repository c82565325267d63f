"""Injected faults reach real clients as GitHub would send them; the call log counts outcomes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from github import Auth, Github, GithubRetry, RateLimitExceededException

from guard.sandbox import FaultKind

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


@pytest.fixture
def retrying_github(world: SandboxWorld) -> Iterator[Github]:
    """PyGithub with its GitHub-aware retry, no backoff, and no pacing between calls."""
    github = Github(
        base_url=world.base_url,
        auth=Auth.Token(world.owner_token),
        retry=GithubRetry(total=3, backoff_factor=0, secondary_rate_wait=0),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield github
    github.close()


def _outcomes(world: SandboxWorld, method: str, path: str) -> list[tuple[int, str]]:
    return [(call.status, call.outcome) for call in world.sandbox.calls.matching(method, path)]


def test_server_error_then_success_with_pygithub_retry(
    world: SandboxWorld, retrying_github: Github
) -> None:
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, f"/repos/{world.repo}", status=502, times=2)
    assert retrying_github.get_repo(world.repo).name == "shop"
    assert _outcomes(world, "GET", f"/repos/{world.repo}") == [
        (502, "fault:server_error"),
        (502, "fault:server_error"),
        (200, "ok"),
    ]


def test_server_error_body_is_github_shaped(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    world.sandbox.add_fault("server_error", "/repos/*/deployments", method="POST", status=503)
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    assert owner_http.get(url).status_code == 200
    failed = owner_http.post(url, json={"ref": "main", "required_contexts": []})
    assert failed.status_code == 503
    assert failed.json()["message"] == "Server Error"
    assert "x-ratelimit-remaining" in failed.headers
    assert owner_http.post(url, json={"ref": "main", "required_contexts": []}).status_code == 201


def test_secondary_rate_limit_carries_retry_after_and_githubs_message(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    world.sandbox.add_fault("secondary_rate_limit", "/repos/*/issues", retry_after=7)
    limited = owner_http.post(f"{world.base_url}/repos/{world.repo}/issues", json={"title": "x"})
    assert limited.status_code == 403
    assert limited.headers["Retry-After"] == "7"
    message = limited.json()["message"]
    assert message.startswith("You have exceeded a secondary rate limit.")
    assert limited.headers["X-GitHub-Request-Id"] in message
    assert world.sandbox.calls.counts() == {"fault:secondary_rate_limit": 1}


def test_pygithub_retries_after_a_secondary_rate_limit(
    world: SandboxWorld, retrying_github: Github
) -> None:
    world.sandbox.add_fault("secondary_rate_limit", f"/repos/{world.repo}", retry_after=0)
    assert retrying_github.get_repo(world.repo).full_name == world.repo
    assert _outcomes(world, "GET", f"/repos/{world.repo}") == [
        (403, "fault:secondary_rate_limit"),
        (200, "ok"),
    ]


def test_primary_rate_limit_fault_shows_an_empty_budget(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    world.sandbox.add_fault("primary_rate_limit", f"/repos/{world.repo}", reset_after=30)
    limited = owner_http.get(f"{world.base_url}/repos/{world.repo}")
    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    # Reset lies reset_after (30 s) ahead: comfortably in the future when the answer arrives.
    assert int(limited.headers["x-ratelimit-reset"]) > time.time()
    assert limited.json()["message"].startswith("API rate limit exceeded")
    github = Github(base_url=world.base_url, auth=Auth.Token(world.owner_token), retry=None)
    world.sandbox.add_fault("primary_rate_limit", f"/repos/{world.repo}")
    try:
        with pytest.raises(RateLimitExceededException):
            github.get_repo(world.repo)
    finally:
        github.close()


def test_timeout_holds_the_answer_until_the_test_releases_it(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    fault = world.sandbox.add_fault("timeout", "/repos/*/deployments", method="POST")
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    with pytest.raises(requests.Timeout):
        owner_http.post(url, json={"ref": "main", "required_contexts": []}, timeout=0.3)
    assert world.sandbox.runtime.faults.wait_until_held(1)
    retried = owner_http.post(url, json={"ref": "main", "required_contexts": []})
    assert retried.status_code == 201
    assert world.sandbox.release_held(fault.id) == 1
    assert world.sandbox.calls.wait_for(2)
    # The held call went through once released, as GitHub may finish work whose answer was
    # lost: the client's retry made a second deployment.
    assert len(owner_http.get(url).json()) == 2
    assert _outcomes(world, "POST", f"/repos/{world.repo}/deployments") == [
        (201, "ok"),
        (201, "fault:timeout"),
    ]


def test_latency_applies_to_every_matching_call_until_cleared(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    fault = world.sandbox.add_fault("latency", "/repos/*", latency_ms=5, times=None)
    for _ in range(3):
        assert owner_http.get(f"{world.base_url}/repos/{world.repo}").status_code == 200
    assert fault.hits == 3
    world.sandbox.clear_faults()
    owner_http.get(f"{world.base_url}/repos/{world.repo}")
    assert fault.hits == 3
    assert world.sandbox.calls.counts() == {"ok": 4}


def test_faults_and_calls_over_the_control_api(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    control = f"{world.base_url}/_sandbox"
    added = requests.post(
        f"{control}/faults",
        json={"kind": "server_error", "path": "/repos/*/issues", "status": 500, "times": 1},
        timeout=10,
    )
    assert added.status_code == 201
    assert (
        requests.get(f"{control}/faults", timeout=10).json()["faults"][0]["kind"] == "server_error"
    )
    issues = f"{world.base_url}/repos/{world.repo}/issues"
    assert owner_http.get(issues).status_code == 500
    assert owner_http.get(issues).status_code == 200
    log = requests.get(f"{control}/calls", timeout=10).json()
    assert log["counts"] == {"fault:server_error": 1, "ok": 1}
    assert [call["auth"] for call in log["calls"]] == ["user:octo-org", "user:octo-org"]
    assert all(call["token_hint"] == world.owner_token[-4:] for call in log["calls"])
    later = requests.get(f"{control}/calls", params={"since": log["last_seq"]}, timeout=10)
    assert later.json()["calls"] == []
    bad = requests.post(
        f"{control}/faults", json={"kind": "server_error", "status": 404}, timeout=10
    )
    assert bad.status_code == 422
