"""Exactly one remedy and one incident issue, whatever happens twice and whatever fails.

Redelivered webhooks and repeated jobs; the verdict's hook run again after the end; two
replicas acting on the same verdict at the same moment (SQLite and PostgreSQL); two sets of
workers on PostgreSQL and Redis; and GitHub failing on the way (5xx, secondary rate limits,
timeouts whose work happens anyway): each delays, none duplicates.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest

from guard.jobs import publish
from guard.jobs.context import JobContext, build_context
from guard.jobs.job import lease_owner, release
from guard.jobs.steps import VerificationJobs
from guard.outcomes import VerdictKind
from guard.sandbox import FaultKind
from guard.store import RemedyState
from tests.guard_world import Unscheduled
from tests.jobs_world import wait_for
from tests.story_world import (
    REPO,
    STORY,
    Story,
    app_clients,
    job_for,
    settled,
    story_world,
    verdict_not_acted_on,
    workers,
)

REPLICAS = 2
DEPLOYMENTS = f"/repos/{REPO}/deployments"
ISSUES = f"/repos/{REPO}/issues"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'guard.db'}"
    return cast("str", request.getfixturevalue("postgres_url"))


def assert_one_of_everything(story: Story) -> None:
    assert len(story.rollbacks()) == 1, story.rollbacks()
    (remedy,) = story.remedies()
    assert remedy.state is RemedyState.DONE
    (issue,) = story.issues()
    (incident,) = story.incidents()
    assert incident.issue_number == issue.number
    assert len(story.comments_on(story.pull_number)) == 1


def finish_again(story: Story, jobs: VerificationJobs, verification_id: int, bad: int) -> bool:
    """What the reconciler does for a verdict left open: the step once more; True at the end."""
    jobs.resume(verification_id)
    return story.finished(bad) is not None


def filed_calls(story: Story) -> list[int]:
    """The answered issue creations (a held one is logged when it is answered)."""
    return [c.status for c in story.sandbox.calls.matching("POST", ISSUES) if c.status == 201]


def test_redelivered_webhooks_and_repeated_jobs_act_once(tmp_path: Path) -> None:
    with story_world(tmp_path) as story, workers(story):
        story.deploy_good()
        story.break_main()
        bad = story.create_deployment("main")
        # The pipeline reports success twice (two deliveries), and the job is queued again.
        story.ship(bad, "v2")
        story.ship(bad, "v2")
        queue = story.queue()
        try:
            for _ in range(3):
                queue.enqueue_verification(bad)
        finally:
            queue.close()
        row = settled(story, bad)
        assert row.verdict is VerdictKind.FAIL
        assert_one_of_everything(story)

        # The verdict's hook once more, long after: nothing new on GitHub but the check run.
        before = len(story.writes())
        context = build_context(story.settings(), Unscheduled(), STORY)
        try:
            job = job_for(context, row.id, lease_owner())
            try:
                publish.finish(job)
            finally:
                job.github.close()
        finally:
            context.close()
        again = story.writes()[before:]
        assert set(again) <= {f"PATCH /repos/{REPO}/check-runs/{row.check_run_id}"}, again
        assert_one_of_everything(story)


def test_two_replicas_acting_on_one_verdict_at_once_make_one_of_each(
    tmp_path: Path, database_url: str
) -> None:
    with story_world(tmp_path, database_url=database_url) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        bad, row = verdict_not_acted_on(story)
        assert story.remedies() == []
        assert story.incidents() == []
        # Two replicas, each with its own database engine and GitHub client, both sure they
        # hold the verification (the same lease owner), run the verdict's hook together.
        owner = lease_owner()
        contexts = [build_context(story.settings(), Unscheduled(), STORY) for _ in range(2)]
        start = threading.Barrier(REPLICAS)

        def replica(ctx: JobContext) -> None:
            job = job_for(ctx, row.id, owner)
            try:
                start.wait()
                publish.finish(job)
            finally:
                job.github.close()

        try:
            with ThreadPoolExecutor(REPLICAS) as pool:
                for done in [pool.submit(replica, ctx) for ctx in contexts]:
                    done.result()
            release(contexts[0], row.id, owner)
            jobs = VerificationJobs(contexts[0])
            wait_for("the end", lambda: finish_again(story, jobs, row.id, bad))
        finally:
            for ctx in contexts:
                ctx.close()
        assert_one_of_everything(story)
        (issue,) = story.issues()
        # Filed while the other replica's remedy ran, or after: either way said once.
        assert len([c for c in story.comments_on(issue.number) if "key=remedy " in c]) <= 1


@pytest.mark.postgres
@pytest.mark.redis
def test_two_sets_of_workers_on_postgresql_and_redis_act_once(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    with (
        story_world(tmp_path, database_url=postgres_url, queue_url=redis_url) as story,
        workers(story),
        workers(story),
    ):
        story.deploy_good()
        story.break_main()
        bad = story.create_deployment("main")
        story.ship(bad, "v2")
        queue = story.queue()
        try:
            for _ in range(4):
                queue.enqueue_verification(bad)
        finally:
            queue.close()
        settled(story, bad)
        assert_one_of_everything(story)


def test_github_failing_on_the_way_delays_but_never_duplicates(tmp_path: Path) -> None:
    with story_world(tmp_path) as story:
        waited: list[float] = []

        def sleep(seconds: float) -> None:
            # A retry's wait is when a timed-out request finishes on GitHub's side anyway.
            waited.append(seconds)
            if story.sandbox.runtime.faults.held:
                story.sandbox.release_held()
                wait_for("the held issue's answer", lambda: filed_calls(story))

        github = app_clients(story, timeout_s=5, sleep=sleep)
        with workers(story, github=github):
            story.deploy_good()
            story.break_main()
            bad = story.create_deployment("main")
            add = story.sandbox.add_fault
            # The rollback's deployment: a 502 says nothing of whether it was made, so the
            # client looks for it by its key before it sends the create again.
            add(FaultKind.SERVER_ERROR, path=DEPLOYMENTS, method="POST", status=502)
            # The issue: a secondary rate limit, then a timeout whose issue is made anyway.
            add(FaultKind.SECONDARY_RATE_LIMIT, path=ISSUES, method="POST", retry_after=1)
            add(FaultKind.TIMEOUT, path=ISSUES, method="POST", hold_seconds=60)
            # Reads fail too, and are simply read again.
            add(FaultKind.SERVER_ERROR, path=DEPLOYMENTS, method="GET", status=503, times=2)
            story.ship(bad, "v2")
            settled(story, bad)

        assert_one_of_everything(story)
        calls = story.sandbox.calls
        # Rate limited (sent again), then made though the client had given up (not sent again).
        assert [c.status for c in calls.matching("POST", ISSUES)] == [403, 201]
        assert [c.status for c in calls.matching("POST", DEPLOYMENTS)][-2:] == [502, 201]
        assert any(c.status == 502 for c in calls.matching("POST", DEPLOYMENTS))
        assert any(c.status == 503 for c in calls.matching("GET", DEPLOYMENTS))
        assert waited, "the faults made the client wait and retry"
