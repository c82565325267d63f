"""A remedy done, then the verification gives up: the incident is still filed, once.

GitHub refuses the incident's issue (5xx) after the rollback went through, step after step,
until the verification gives up. The give-up itself tries to file it; while GitHub still
refuses, the incident stays owed in the database and the reconciler files it once GitHub
answers again, with a note that says the verification stopped and why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa

from guard.github.retry import RetryPolicy
from guard.jobs import publish
from guard.jobs.consumer import EmbeddedWorkers, start_embedded_workers
from guard.jobs.context import build_context
from guard.jobs.job import lease_owner
from guard.jobs.options import WorkerOptions
from guard.jobs.owed_incidents import file_owed_incident, file_owed_incidents, owed
from guard.jobs.queue import make_queue
from guard.jobs.records import moment
from guard.sandbox import FaultKind
from guard.store import RemedyState, TimelineEvent, VerificationState
from tests.guard_world import Unscheduled
from tests.jobs_world import wait_for
from tests.story_world import (
    GOOD_TAG,
    REPO,
    STORY,
    Story,
    app_clients,
    comment_with,
    job_for,
    story_world,
    workers,
)
from tests.test_story_restored_early import judged

ISSUES = f"/repos/{REPO}/issues"
GAVE_UP = "stopped working on this deployment's verification"
# Two failed steps end a verification; a claim idle this long may be taken over.
GIVING_UP = replace(STORY, max_step_failures=2, takeover_after_s=0.2)
NO_RECONCILER = replace(STORY, reconcile_every_s=3600.0)


@contextmanager
def failing_workers(story: Story, options: WorkerOptions) -> Iterator[EmbeddedWorkers]:
    """Workers whose GitHub calls are tried once: a refused issue fails the step at once."""
    settings = story.settings()
    queue = make_queue(
        settings,
        name=story.queue_name,
        options=options,
        github=app_clients(story, retry_policy=RetryPolicy(max_attempts=1)),
    )
    running = start_embedded_workers(settings, threads=2, queue=queue)
    try:
        yield running
    finally:
        running.stop()


def owed_now(story: Story) -> list[int]:
    with story.session() as session:
        return owed(session)


def refuse_issues(story: Story) -> None:
    story.sandbox.add_fault(FaultKind.SERVER_ERROR, path=ISSUES, method="POST", times=None)


def test_an_incident_refused_until_the_verification_gives_up_is_filed_by_the_reconciler(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        refuse_issues(story)
        with failing_workers(story, GIVING_UP):
            bad = story.deploy("main", "v2")
            ended = wait_for("the give-up", lambda: story.finished(bad))
            assert ended.state is VerificationState.ERROR
            # The rollback went through; the issue did not, and it is owed, durably.
            (remedy,) = story.remedies()
            assert remedy.state is RemedyState.DONE
            assert story.issues() == []
            assert owed_now(story) == [ended.id]

            # GitHub answers again: the reconciler files the incident, with the note.
            story.sandbox.clear_faults()
            issue = wait_for("the owed issue", lambda: (found := story.issues()) and found[0])
            (note,) = wait_for(
                "the give-up note", lambda: comment_with(story, issue.number, GAVE_UP)
            )
        assert f"rolled back to `{GOOD_TAG} ({story.good_sha[:7]})` with redeploy" in (
            issue.body or ""
        )
        assert "Gave up after 2 failed attempts" in note
        assert owed_now(story) == []

        # Another reconciler pass finds nothing owed: one issue, one note.
        queue = story.queue(options=GIVING_UP)
        try:
            queue.reconcile()
        finally:
            queue.close()
        assert len(story.issues()) == 1
        assert len(comment_with(story, issue.number, GAVE_UP)) == 1
        (incident,) = story.incidents()
        assert (incident.issue_number, incident.remedy_told) == (issue.number, "done")


def test_giving_up_files_the_owed_incident_at_once_when_github_answers(tmp_path: Path) -> None:
    with story_world(tmp_path) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        refuse_issues(story)
        with failing_workers(story, NO_RECONCILER):
            bad = story.deploy("main", "v2")
            wait_for("the rollback", lambda: story.remedies() or None)
            wait_for("the verdict", lambda: judged(story, bad))
            wait_for("the refused issue", lambda: story.sandbox.calls.matching("POST", ISSUES))
        story.sandbox.clear_faults()
        waiting = story.verification(bad)
        assert waiting is not None
        assert waiting.state is VerificationState.WATCHING
        assert story.issues() == []

        context = build_context(story.settings(), Unscheduled(), STORY)
        try:
            publish.give_up(job_for(context, waiting.id, lease_owner()), 10, "the last error")
        finally:
            context.close()

        (issue,) = story.issues()
        (note,) = comment_with(story, issue.number, GAVE_UP)
        assert "the last error" in note
        gave_up = story.verification(bad)
        assert gave_up is not None
        assert gave_up.state is VerificationState.ERROR
        assert owed_now(story) == []
        assert len(story.remedies()) == 1


def test_the_owed_incident_also_posts_the_failure_status_never_posted_once(
    tmp_path: Path,
) -> None:
    """The status comes after the issue in a step: a refused issue left the failed
    deployment without its `failure` until the owed incident was filed."""
    with story_world(tmp_path) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        refuse_issues(story)
        with failing_workers(story, NO_RECONCILER):
            bad = story.deploy("main", "v2")
            wait_for("the rollback", lambda: story.remedies() or None)
            wait_for("the verdict", lambda: judged(story, bad))
            wait_for("the refused issue", lambda: story.sandbox.calls.matching("POST", ISSUES))
        story.sandbox.clear_faults()
        assert "failure" not in story.statuses(bad)
        waiting = story.verification(bad)
        assert waiting is not None

        context = build_context(story.settings(), Unscheduled(), STORY)
        try:
            publish.give_up(job_for(context, waiting.id, lease_owner()), 10, "the last error")
            assert story.statuses(bad).count("failure") == 1
            # Filing it again (a repeated pass) posts nothing more: the timeline says it is told.
            file_owed_incident(job_for(context, waiting.id, lease_owner()))
        finally:
            context.close()

        assert story.statuses(bad).count("failure") == 1
        with story.session() as session:
            kinds = session.scalars(
                sa.select(TimelineEvent.kind).where(TimelineEvent.verification_id == waiting.id)
            ).all()
        assert kinds.count("deployment_status") == 1


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'guard.db'}"
    return cast("str", request.getfixturevalue("postgres_url"))


def test_an_owed_incident_github_still_refuses_waits_two_periods_and_blocks_no_other(
    tmp_path: Path, database_url: str
) -> None:
    with story_world(tmp_path, database_url=database_url) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        refuse_issues(story)
        with failing_workers(story, GIVING_UP):
            bad = story.deploy("main", "v2")
            ended = wait_for("the give-up", lambda: story.finished(bad))

        # The reconciler's part, by hand, on a clock past any try the workers made.
        now = time.time() + 10 * GIVING_UP.reconcile_every_s
        context = build_context(
            story.settings(),
            Unscheduled(),
            GIVING_UP,
            clock=lambda: now,
            github=app_clients(story, retry_policy=RetryPolicy(max_attempts=1)),
        )
        try:
            assert file_owed_incidents(context) == 0
            # Still owed, but its lease is held for two reconciler periods: the next passes
            # turn to other owed incidents first.
            with story.session() as session:
                assert owed(session) == [ended.id]
                assert owed(session, moment(now)) == []
                after_backoff = moment(now + 2 * GIVING_UP.reconcile_every_s + 0.1)
                assert owed(session, after_backoff) == [ended.id]

            story.sandbox.clear_faults()
            now += 2 * GIVING_UP.reconcile_every_s + 0.1
            assert file_owed_incidents(context) == 1
            assert file_owed_incidents(context) == 0
        finally:
            context.close()
        (issue,) = story.issues()
        assert len(comment_with(story, issue.number, GAVE_UP)) == 1
