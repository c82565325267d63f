"""A remedy still under way elsewhere: the incident is filed first, its end comes as one comment.

Another replica has claimed the rollback and is running it when this worker acts on the
verdict: the issue says the rollback is under way, the verification stays open, and once the
other replica's remedy is abandoned (no progress for `takeover_after_s`) this worker finishes
it, comments "Rollback done" once, and only then ends the verification.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from guard.jobs.context import build_context
from guard.jobs.records import moment
from guard.jobs.steps import VerificationJobs
from guard.store import Deployment, RemedyState, VerificationState, claim_remedy
from tests.guard_world import Unscheduled
from tests.story_world import (
    GOOD_TAG,
    STORY,
    Story,
    story_world,
    verdict_not_acted_on,
    workers,
)


@dataclass
class Clock:
    """Wall-clock seconds that move only when the test says so."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


def claimed_elsewhere(story: Story, deployment_id: int, clock: Clock) -> None:
    """The remedy as another replica left it: claimed, running, its target chosen."""
    with story.session() as session, session.begin():
        failed = session.scalars(
            sa.select(Deployment).where(Deployment.github_id == deployment_id)
        ).one()
        remedy = claim_remedy(session, failed.id, "redeploy")
        assert remedy is not None
        remedy.state = RemedyState.RUNNING
        remedy.target_sha, remedy.target_ref = story.good_sha, GOOD_TAG
        remedy.claimed_at = remedy.updated_at = moment(clock())


def test_an_incident_filed_while_its_remedy_runs_elsewhere_gets_one_comment_at_the_end(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story:
        with workers(story):
            story.deploy_good()
        story.break_main()
        clock = Clock()
        bad, row = verdict_not_acted_on(story, clock=clock)
        claimed_elsewhere(story, bad, clock)
        context = build_context(story.settings(), Unscheduled(), STORY, clock=clock)
        jobs = VerificationJobs(context)
        try:
            jobs.resume(row.id)

            (issue,) = story.issues()
            assert (
                f"The guard is rolling back to `{GOOD_TAG} ({story.good_sha[:7]})` with redeploy;"
                " this issue gets a comment when the rollback has ended." in issue.body
            )
            assert story.comments_on(issue.number) == []
            assert story.rollbacks() == []
            (incident,) = story.incidents()
            assert incident.remedy_told == "pending"
            waiting = story.verification(bad)
            assert waiting is not None
            assert waiting.state is VerificationState.WATCHING

            # The other replica made no progress for longer than the takeover allows.
            clock.now += STORY.takeover_after_s + 1
            jobs.resume(row.id)
            jobs.resume(row.id)
        finally:
            context.close()

        (rollback,) = story.rollbacks()
        (remedy,) = story.remedies()
        assert (remedy.state, remedy.created_deployment_id) == (RemedyState.DONE, rollback.id)
        (done,) = story.comments_on(issue.number)
        assert "**Rollback done**" in done
        assert f"created deployment {rollback.id} of {GOOD_TAG}" in done
        (incident,) = story.incidents()
        assert incident.remedy_told == "done"
        finished = story.verification(bad)
        assert finished is not None
        assert finished.state is VerificationState.FINISHED
        assert len(story.issues()) == 1
