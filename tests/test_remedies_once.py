"""One remedy per failed deployment: under repeated calls, racing replicas, crashes and faults."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from guard.github.models import DeploymentRef
from guard.github.port import GitHubPort
from guard.outcomes import VerdictKind
from guard.remedies import OutcomeKind, RemedyOutcome, execute_remedy
from guard.sandbox import FaultKind
from guard.store import RemedyState
from tests.remedies_world import DEPLOYMENTS, REPO, RemedyWorld, releasing_sleep, remedy_world

REPLICAS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'guard.db'}"
    return cast("str", request.getfixturevalue("postgres_url"))


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Iterator[RemedyWorld]:
    with remedy_world(database_url, tmp_path / "clones") as world:
        yield world


def story(shop: RemedyWorld) -> DeploymentRef:
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    return bad


class Crash(BaseException):
    """The process dies: nothing below it runs, no handler of ours catches it."""


class CrashAfter:
    """The port, except that the process dies right after `operation` returned."""

    def __init__(self, port: GitHubPort, operation: str) -> None:
        self._port = port
        self._operation = operation

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._port, name)
        if name != self._operation:
            return real

        def dying(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)
            raise Crash(name)

        return dying


def crashing(shop: RemedyWorld, operation: str) -> GitHubPort:
    return cast("GitHubPort", CrashAfter(shop.client(), operation))


def rollbacks(shop: RemedyWorld) -> list[Any]:
    return [d for d in shop.deployments() if "deploy_guard" in (d.payload or {})]


def race(shop: RemedyWorld, attempt: Callable[[], RemedyOutcome]) -> list[RemedyOutcome]:
    """Run `attempt` in REPLICAS threads released together, each as its own replica."""
    start = threading.Barrier(REPLICAS)

    def replica(_: int) -> RemedyOutcome:
        start.wait()
        return attempt()

    with ThreadPoolExecutor(REPLICAS) as pool:
        return list(pool.map(replica, range(REPLICAS)))


@pytest.mark.parametrize("strategy", ["redeploy", "revert", "revert_pr"])
def test_racing_replicas_make_one_remedy(shop: RemedyWorld, strategy: str) -> None:
    bad = story(shop)

    outcomes = race(
        shop,
        lambda: execute_remedy(shop.context(shop.client()), shop.request(bad, strategy=strategy)),
    )

    kinds = sorted(outcome.kind.value for outcome in outcomes)
    assert kinds == ["done"] + ["taken"] * (REPLICAS - 1), [o.message for o in outcomes]
    assert len(shop.remedies()) == 1
    assert len(rollbacks(shop)) == (1 if strategy == "redeploy" else 0)
    assert len(shop.pulls()) == (1 if strategy == "revert_pr" else 0)
    revert_commits = shop.git("rev-list", "--count", f"{shop.bad_sha}..main").strip()
    assert revert_commits == ("1" if strategy == "revert" else "0")
    failures = [s for s in shop.statuses(bad.id) if s.state == "failure"]
    assert len(failures) == 1


def test_repeated_calls_make_one_remedy(shop: RemedyWorld) -> None:
    bad = story(shop)
    outcomes = [execute_remedy(shop.context(), shop.request(bad)) for _ in range(3)]
    assert [o.kind for o in outcomes] == [OutcomeKind.DONE, OutcomeKind.TAKEN, OutcomeKind.TAKEN]
    assert len(rollbacks(shop)) == 1


def test_a_remedy_running_when_its_process_died_is_resumed_once(shop: RemedyWorld) -> None:
    bad = story(shop)
    with pytest.raises(Crash):
        execute_remedy(shop.context(crashing(shop, "create_deployment")), shop.request(bad))
    (remedy,) = shop.remedies()
    assert remedy.state is RemedyState.RUNNING
    assert len(rollbacks(shop)) == 1

    # Fresh: another replica may be working on it right now, so it is left alone.
    busy = execute_remedy(shop.context(), shop.request(bad))
    # Abandoned (no progress for resume_after): resumed, and the deployment found by its key.
    resumed = execute_remedy(shop.context(resume_after=timedelta(0)), shop.request(bad))

    assert (busy.kind, busy.state) == (OutcomeKind.TAKEN, "running")
    assert "in progress elsewhere" in busy.message
    assert resumed.kind is OutcomeKind.DONE, resumed.message
    assert len(rollbacks(shop)) == 1
    assert resumed.created_deployment_id == rollbacks(shop)[0].id
    assert [s.state for s in shop.statuses(bad.id)] == ["success", "failure", "inactive"]
    started = [m for kind, m in shop.timeline(bad.id) if kind == "remedy_started"]
    assert started[-1].startswith("Remedy resumed after an interruption")


@pytest.mark.parametrize(
    ("strategy", "dies_after"),
    [
        ("redeploy", "create_deployment_status"),
        ("revert", "update_branch"),
        ("revert", "create_commit"),
        ("revert_pr", "installation_token"),
        ("revert_pr", "create_pull"),
    ],
)
def test_every_strategy_resumes_without_doing_anything_twice(
    shop: RemedyWorld, strategy: str, dies_after: str
) -> None:
    bad = story(shop)
    if strategy == "revert_pr":
        shop.sandbox.protect_branch(REPO, "main")
    with pytest.raises(Crash):
        execute_remedy(
            shop.context(crashing(shop, dies_after)), shop.request(bad, strategy=strategy)
        )

    resumed = execute_remedy(
        shop.context(resume_after=timedelta(0)), shop.request(bad, strategy=strategy)
    )

    assert resumed.kind is OutcomeKind.DONE, resumed.message
    assert len(rollbacks(shop)) == (1 if strategy == "redeploy" else 0)
    assert len(shop.pulls()) == (1 if strategy == "revert_pr" else 0)
    expected = "1" if strategy == "revert" else "0"
    assert shop.git("rev-list", "--count", f"{shop.bad_sha}..main").strip() == expected
    assert len([s for s in shop.statuses(bad.id) if s.state == "failure"]) == 1


def test_faults_delay_a_redeploy_but_never_duplicate_it(shop: RemedyWorld) -> None:
    bad = story(shop)
    client = shop.client(timeout_s=1, sleep=releasing_sleep(shop))
    shop.sandbox.add_fault(FaultKind.TIMEOUT, path=DEPLOYMENTS, method="POST")
    shop.sandbox.add_fault(
        FaultKind.SERVER_ERROR, path=f"{DEPLOYMENTS}/*/statuses", method="POST", status=502
    )
    shop.sandbox.add_fault(
        FaultKind.SECONDARY_RATE_LIMIT, path=DEPLOYMENTS, method="GET", retry_after=5
    )

    outcome = execute_remedy(shop.context(client), shop.request(bad))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert len(rollbacks(shop)) == 1
    assert [s.state for s in shop.statuses(bad.id)] == ["success", "failure", "inactive"]
    assert 5.0 in shop.slept
    faults = {"fault:timeout", "fault:server_error", "fault:secondary_rate_limit"}
    assert faults <= set(shop.sandbox.calls.counts())


def test_faults_delay_a_revert_but_never_duplicate_it(shop: RemedyWorld) -> None:
    bad = story(shop)
    client = shop.client(timeout_s=1, sleep=releasing_sleep(shop))
    shop.sandbox.add_fault(
        FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/git/commits", method="POST", status=503
    )
    shop.sandbox.add_fault(FaultKind.TIMEOUT, path=f"/repos/{REPO}/git/refs/heads/main")

    outcome = execute_remedy(shop.context(client), shop.request(bad, strategy="revert"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert shop.git("rev-list", "--count", f"{shop.bad_sha}..main").strip() == "1"
    head = shop.sandbox.branch_sha(REPO)
    assert head is not None
    assert shop.same_tree(shop.good_sha, head)
    assert {"fault:timeout", "fault:server_error"} <= set(shop.sandbox.calls.counts())


def test_faults_delay_a_revert_pull_but_never_duplicate_it(shop: RemedyWorld) -> None:
    bad = story(shop)
    shop.sandbox.protect_branch(REPO, "main")
    client = shop.client(timeout_s=1, sleep=releasing_sleep(shop))
    shop.sandbox.add_fault(FaultKind.TIMEOUT, path=f"/repos/{REPO}/pulls", method="POST")
    shop.sandbox.add_fault(
        FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/git/ref/heads/*", method="GET", status=500
    )

    outcome = execute_remedy(shop.context(client), shop.request(bad, strategy="revert_pr"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert len(shop.pulls()) == 1
    assert outcome.pull_number == shop.pulls()[0].number
    assert {"fault:timeout", "fault:server_error"} <= set(shop.sandbox.calls.counts())
