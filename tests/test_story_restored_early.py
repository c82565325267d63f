""" "Service restored" comes as soon as it can be told, not a reconciler period later.

The rollback's own verification may pass while the original incident cannot be filed yet
(GitHub refused the issue). Its verdict is then kept, and the moment the incident's issue is
filed, the same step tells it: the comment is there when that step returns, while the
rollback's own verification still waits for the reconciler (here, never: its period is an
hour). When the rollback's step comes back, it finds the comment claimed and posts none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from guard.github.retry import RetryPolicy
from guard.jobs.consumer import EmbeddedWorkers, start_embedded_workers
from guard.jobs.context import build_context
from guard.jobs.queue import make_queue
from guard.jobs.steps import VerificationJobs
from guard.outcomes import VerdictKind
from guard.sandbox import FaultKind
from guard.store import Verification, VerificationState
from tests.guard_world import Unscheduled
from tests.jobs_world import wait_for
from tests.story_world import (
    REPO,
    STORY,
    Story,
    app_clients,
    comment_with,
    story_world,
    workers,
)

# The reconciler runs when the workers start, and then not again during the test.
NO_RECONCILER = replace(STORY, reconcile_every_s=3600.0)


@contextmanager
def workers_without_reconciler(story: Story) -> Iterator[EmbeddedWorkers]:
    settings = story.settings()
    queue = make_queue(
        settings,
        name=story.queue_name,
        options=NO_RECONCILER,
        github=app_clients(story, retry_policy=RetryPolicy(max_attempts=1)),
    )
    running = start_embedded_workers(settings, threads=2, queue=queue)
    try:
        yield running
    finally:
        running.stop()


def judged(story: Story, deployment_id: int) -> Verification | None:
    """The deployment's verification once it has a verdict (acted on or not)."""
    row = story.verification(deployment_id)
    return row if row is not None and row.verdict is not None else None


def test_service_restored_is_told_as_soon_as_the_incident_is_filed(tmp_path: Path) -> None:
    with story_world(tmp_path) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        story.sandbox.add_fault(
            FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/issues", method="POST", times=None
        )
        with workers_without_reconciler(story):
            bad = story.deploy("main", "v2")
            (rollback,) = wait_for("the rollback", lambda: story.rollbacks() or None)
            story.ship(rollback.id, "v1")
            passed = wait_for("the rollback's verdict", lambda: judged(story, rollback.id))
        story.sandbox.clear_faults()

        assert passed.verdict is VerdictKind.PASS
        assert story.issues() == []
        failed = story.verification(bad)
        assert failed is not None
        assert failed.verdict is VerdictKind.FAIL

        # The failed deployment's step, once its stale claim may be taken over: files the
        # issue, and tells the rollback's verdict before it returns.
        later = time.time() + STORY.takeover_after_s + 1
        context = build_context(story.settings(), Unscheduled(), STORY, clock=lambda: later)
        jobs = VerificationJobs(context)
        try:
            jobs.resume(failed.id)
            (issue,) = story.issues()
            (restored,) = comment_with(story, issue.number, "Service restored")
            assert f"deployment {rollback.id}" in restored
            assert "| Time to detect | Time to restore |" in restored
            waiting = story.verification(rollback.id)
            assert waiting is not None
            assert waiting.state is VerificationState.WATCHING

            # The rollback's own step comes back (the reconciler's safety net): no second one.
            jobs.resume(passed.id)
        finally:
            context.close()

        finished = story.verification(rollback.id)
        assert finished is not None
        assert finished.state is VerificationState.FINISHED
        assert len(comment_with(story, issue.number, "Service restored")) == 1
        assert len(story.issues()) == 1
