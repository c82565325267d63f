"""Verifications end to end through the real queue and worker threads, against the sandbox.

The service's side is played as its webhook handler plays it: the deployment is recorded,
then `enqueue_verification` is called. Each test waits by polling the database with a
deadline, then reads what GitHub (the sandbox) was told.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from guard.jobs.consumer import EmbeddedWorkers, start_embedded_workers
from guard.jobs.context import build_context
from guard.jobs.queue import JobQueue, make_queue
from guard.jobs.steps import VerificationJobs
from guard.outcomes import Severity, VerdictKind
from guard.report.check_run import STATUS_DESCRIPTION_LIMIT
from guard.store import VerificationState
from tests.guard_world import Unscheduled
from tests.jobs_world import (
    FAST,
    POLICY_PATH,
    PUBLIC_URL,
    REPO,
    JobsWorld,
    jobs_world,
    policy_text,
    wait_for,
)

CHECK_RUN = "deploy-guard / production"
INVALID_POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
        expect:
          status: 700
    watch:
      interval: fast
"""


@dataclass
class Running:
    """A world, the queue the service enqueues on, and worker threads consuming it."""

    world: JobsWorld
    queue: JobQueue
    workers: EmbeddedWorkers

    def verify(self, sha: str | None = None, *, environment: str = "production") -> int:
        deployment_id = self.world.deploy(sha, environment=environment)
        self.queue.enqueue_verification(deployment_id)
        return deployment_id


@contextmanager
def running(
    tmp_path: Path,
    files: dict[str, str] | None = None,
    *,
    database_url: str | None = None,
    queue_url: str | None = None,
) -> Iterator[Running]:
    # A queue name of its own: the Redis database is shared with other test runs.
    name = f"deploy-guard-test-{uuid.uuid4().hex[:8]}"
    with jobs_world(tmp_path, files, database_url=database_url, queue_url=queue_url) as world:
        settings = world.settings()
        workers = start_embedded_workers(
            settings, threads=2, queue=make_queue(settings, name=name, options=FAST)
        )
        queue = make_queue(settings, name=name)
        try:
            yield Running(world, queue, workers)
        finally:
            workers.stop()
            queue.huey.flush()
            queue.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backends(request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    """The embedded defaults (SQLite database and queue), and the scale-out pair."""
    if request.param == "sqlite":
        return None, None
    postgres_url: str = request.getfixturevalue("postgres_url")
    redis_url: str = request.getfixturevalue("redis_url")
    return postgres_url, redis_url


def test_a_healthy_deployment_passes_with_its_table(
    tmp_path: Path, backends: tuple[str | None, str | None]
) -> None:
    database_url, queue_url = backends
    with running(tmp_path, database_url=database_url, queue_url=queue_url) as run:
        deployment_id = run.verify()
        row = wait_for("the verdict", lambda: run.world.finished(deployment_id))

        assert row.state is VerificationState.FINISHED
        assert row.verdict is VerdictKind.PASS
        assert row.severity is None
        assert row.rounds_done == row.rounds_planned == 3
        assert row.decision is not None
        assert row.decision["action"] == "none"
        assert row.policy_ref == "deployed"
        assert run.world.results(row.id) == [
            (0, "api health"),
            (0, "home page"),
            (1, "health"),
            (2, "health"),
            (3, "health"),
        ]
        (check_run,) = run.world.check_runs()
        assert check_run["id"] == row.check_run_id
        assert check_run["name"] == CHECK_RUN
        assert check_run["head_sha"] == run.world.sandbox.branch_sha(REPO)
        assert (check_run["status"], check_run["conclusion"]) == ("completed", "success")
        assert check_run["details_url"] == f"{PUBLIC_URL}/runs/{row.id}"
        summary = check_run["output_summary"]
        assert "**Verdict: PASS** · after 3 of 3 watch rounds" in summary
        assert "| Check | Phase | Result | Runs | Failed | p95 | Last |" in summary
        assert "| health | watch | pass | 3 | 0 |" in summary
        assert [s["state"] for s in run.world.deployment_statuses(deployment_id)] == ["success"]
        kinds = [kind for kind, _ in run.world.timeline(deployment_id)]
        # The check run is made after the smoke checks, and the decision noted before the
        # verdict is published (guard/jobs/publish.py).
        assert kinds == [
            "policy_loaded",
            "smoke_recorded",
            "check_run_created",
            "round_recorded",
            "round_recorded",
            "round_recorded",
            "decision",
            "check_run_completed",
            "verification_finished",
        ]


def test_a_broken_deployment_fails_and_marks_the_deployment_failed(
    tmp_path: Path, backends: tuple[str | None, str | None]
) -> None:
    database_url, queue_url = backends
    with running(tmp_path, database_url=database_url, queue_url=queue_url) as run:
        run.world.service.deploy("v2")
        deployment_id = run.verify()
        row = wait_for("the verdict", lambda: run.world.finished(deployment_id))

        assert (row.verdict, row.severity) == (VerdictKind.FAIL, Severity.P1)
        assert row.decision is not None
        assert row.decision["action"] == "rollback"
        assert row.reasons is not None
        assert [(r["subject"], r["kind"]) for r in row.reasons] == [("home page", "reason")]
        (check_run,) = run.world.check_runs()
        assert check_run["conclusion"] == "failure"
        assert check_run["output_title"] == "Failed (P1 high): home page"
        assert "- Smoke check home page failed: GET http" in check_run["output_summary"]
        assert "answered HTTP 500" in check_run["output_summary"]
        assert "| home page | smoke | **FAIL** | 1 | 1 |" in check_run["output_summary"]
        failure = run.world.deployment_statuses(deployment_id)[-1]
        assert failure["state"] == "failure"
        assert failure["log_url"] == f"{PUBLIC_URL}/runs/{row.id}"
        # The environment keeps its link to the service.
        assert failure["environment_url"] == run.world.service.url
        assert failure["description"].startswith("deploy-guard: FAIL (P1): Smoke check home page")
        assert len(failure["description"]) <= STATUS_DESCRIPTION_LIMIT
        # A smoke failure ends the verification: no watch round runs.
        assert row.rounds_done == 0
        assert {number for number, _ in run.world.results(row.id)} == {0}


def test_an_invalid_policy_fails_the_check_run_with_its_lines(tmp_path: Path) -> None:
    with running(tmp_path, {POLICY_PATH: INVALID_POLICY}) as run:
        deployment_id = run.verify()
        row = wait_for("the policy error", lambda: run.world.finished(deployment_id))

        assert row.state is VerificationState.ERROR
        assert row.verdict is None
        assert run.world.results(row.id) == []
        (check_run,) = run.world.check_runs()
        assert check_run["conclusion"] == "failure"
        assert check_run["output_title"] == "The policy is invalid: 2 errors"
        summary = check_run["output_summary"]
        assert ".github/deploy-guard.yml:8: environments.production.smoke[0].expect.status" in (
            summary
        )
        assert ".github/deploy-guard.yml:10: environments.production.watch.interval" in summary
        # Nothing else happens: the deployment keeps its own statuses.
        assert [s["state"] for s in run.world.deployment_statuses(deployment_id)] == ["success"]


def test_a_repository_without_a_policy_is_not_verified(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        sha = run.world.commit({POLICY_PATH: None})
        deployment_id = run.verify(sha)
        notes = wait_for(
            "the note",
            lambda: [m for k, m in run.world.timeline(deployment_id) if k == "policy_missing"],
        )

        assert notes == [
            f"Not verified: there is no {POLICY_PATH} at {sha[:7]}, "
            + ("so deploy-guard does not guard this repository there.")
        ]
        assert run.world.verification(deployment_id) is None
        assert run.world.check_runs() == []


def test_an_environment_the_policy_does_not_name_is_not_verified(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        deployment_id = run.verify(environment="staging")
        notes = wait_for(
            "the note",
            lambda: [
                m for k, m in run.world.timeline(deployment_id) if k == "environment_not_in_policy"
            ],
        )

        assert "has no environment staging (it has: production)" in notes[0]
        assert run.world.verification(deployment_id) is None
        assert run.world.check_runs() == []


def test_the_default_branch_policy_governs_when_it_says_so(tmp_path: Path) -> None:
    governing = policy_text(policy_ref="default_branch")
    with running(tmp_path, {POLICY_PATH: governing}) as run:
        main = run.world.sandbox.branch_sha(REPO)
        # The deployed commit deletes its copy of the policy: that must not switch the guard off.
        sha = run.world.commit({POLICY_PATH: None}, branch="feature")
        deployment_id = run.verify(sha)
        row = wait_for("the verdict", lambda: run.world.finished(deployment_id))

        assert (row.policy_ref, row.policy_sha) == ("default_branch", main)
        assert row.verdict is VerdictKind.PASS
        (check_run,) = run.world.check_runs(sha)
        assert check_run["conclusion"] == "success"


def test_the_deployed_policy_governs_by_default(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        # The deployed commit's own policy has no watch: its plan is the one run.
        stricter = policy_text().split("    watch:")[0] + "    on_failure: {action: notify}\n"
        sha = run.world.commit({POLICY_PATH: stricter}, branch="feature")
        deployment_id = run.verify(sha)
        row = wait_for("the verdict", lambda: run.world.finished(deployment_id))

        assert (row.policy_ref, row.policy_sha) == ("deployed", sha)
        assert row.rounds_planned == 0
        assert row.verdict is VerdictKind.PASS


def test_a_newer_deployment_supersedes_a_watch(tmp_path: Path) -> None:
    files = {POLICY_PATH: policy_text(interval="200ms", duration="60s")}
    with running(tmp_path, files) as run:
        older = run.verify()
        wait_for(
            "a first round",
            lambda: (row := run.world.verification(older)) is not None and row.rounds_done >= 1,
        )
        newer = run.world.deploy()
        run.queue.enqueue_supersede(REPO, "production", newer)
        row = wait_for("the end of the watch", lambda: run.world.finished(older))

        assert row.state is VerificationState.SUPERSEDED
        assert row.verdict is None
        assert 1 <= row.rounds_done < row.rounds_planned == 300
        (check_run,) = [r for r in run.world.check_runs() if r["id"] == row.check_run_id]
        assert check_run["conclusion"] == "neutral"
        assert check_run["output_title"] == f"Superseded by deployment {newer}"
        assert f"superseded by deployment {newer} to production" in check_run["output_summary"]
        # Superseded means neither judged nor acted on.
        assert [s["state"] for s in run.world.deployment_statuses(older)] == ["success"]


def test_workers_resume_a_verification_whose_jobs_were_lost(tmp_path: Path) -> None:
    with jobs_world(tmp_path) as world:
        settings = world.settings()
        # Every job the steps give the queue is lost, as a killed worker's would be.
        context = build_context(settings, Unscheduled(), FAST)
        deployment_id = world.deploy()
        try:
            VerificationJobs(context).start(deployment_id)
        finally:
            context.close()
        left = world.verification(deployment_id)
        assert left is not None
        assert (left.state, left.rounds_done) == (VerificationState.WATCHING, 0)

        with start_embedded_workers(settings, options=FAST):
            row = wait_for("the verdict", lambda: world.finished(deployment_id))
        assert (row.verdict, row.rounds_done) == (VerdictKind.PASS, 3)
        assert [n for n, name in world.results(row.id) if name == "health"] == [1, 2, 3]


def test_with_a_plain_token_there_is_no_check_run_but_the_status_says_it(tmp_path: Path) -> None:
    with jobs_world(tmp_path) as world:
        settings = world.settings(token=world.owner_token)
        with start_embedded_workers(settings, options=FAST) as workers:
            world.service.deploy("v2")
            deployment_id = world.deploy()
            workers.queue.enqueue_verification(deployment_id)
            row = wait_for("the verdict", lambda: world.finished(deployment_id))

        assert (row.verdict, row.check_run_id) == (VerdictKind.FAIL, None)
        assert world.check_runs() == []
        failure = world.deployment_statuses(deployment_id)[-1]
        assert (failure["state"], failure["log_url"]) == ("failure", f"{PUBLIC_URL}/runs/{row.id}")
        notes = [
            message
            for kind, message in world.timeline(deployment_id)
            if kind == "check_run_unavailable"
        ]
        assert len(notes) == 1
        assert "only a GitHub App" in notes[0]
