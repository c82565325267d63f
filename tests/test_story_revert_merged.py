"""A merged revert pull request is the rollback: its deployment restores, or escalates to P0.

On a protected branch the guard's revert waits in a pull request. Once a person merges it (a
merge commit or a squash, as GitHub's button makes) and the pipeline deploys the branch, the
guard recognises that deployment as the rollback by what GitHub says: our pull request was
merged with our revert commit as its head, and the deployed commit contains its merge commit.
Passing, the incident hears "service restored" with the times; failing, it escalates to P0
(comment and `severity:P0` label) and nothing is rolled back again. A deployment of a commit
without the merged revert is not the rollback, whatever else it ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guard.outcomes import VerdictKind
from guard.store import Deployment, RemedyState
from tests.jobs_world import wait_for
from tests.story_world import REPO, Story, comment_with, settled, story_world, workers


def revert_pull_opened(story: Story) -> tuple[int, Any, Any]:
    """The bad deployment on a protected main: settled, with its revert pull request open."""
    story.deploy_good()
    story.break_main()
    story.sandbox.protect_branch(REPO, "main", require_pull_request=True)
    bad = story.deploy("main", "v2")
    settled(story, bad)
    (pull,) = [p for p in story.pulls() if p.head_ref == f"deploy-guard/revert-{bad}"]
    (issue,) = story.issues()
    return bad, pull, issue


def deployment_row(story: Story, github_id: int) -> Deployment:
    with story.session() as session:
        return session.scalars(sa.select(Deployment).where(Deployment.github_id == github_id)).one()


@pytest.mark.parametrize("method", ["merge", "squash"])
def test_the_deployment_of_a_merged_revert_brings_service_restored(
    tmp_path: Path, method: str
) -> None:
    with story_world(tmp_path, strategy="revert") as story, workers(story):
        bad, pull, issue = revert_pull_opened(story)
        (remedy,) = story.remedies()
        # The revert commit the guard pushed is what recognises its deployment later.
        assert remedy.created_commit_sha == pull.head_sha

        merged = story.sandbox.merge_pull(REPO, pull.number, method=method)
        assert merged != pull.head_sha
        # The pipeline deploys main a commit later: it still contains the merged revert.
        later = story.sandbox.commit(REPO, {"CHANGELOG.md": "- reverted\n"}, "Note the revert")
        deployed = story.deploy("main", "v1")
        row = wait_for("the merged revert's verdict", lambda: story.finished(deployed))

        assert row.verdict is VerdictKind.PASS
        (restored,) = wait_for(
            "service restored", lambda: comment_with(story, issue.number, "Service restored")
        )
        assert f"deployment {deployed} ({later[:7]})" in restored
        assert "| Time to detect | Time to restore |" in restored
        assert "unknown" not in restored
        (remedy,) = story.remedies()
        assert (remedy.state, remedy.created_deployment_id) == (RemedyState.DONE, deployed)
        shipped = deployment_row(story, deployed)
        assert shipped.is_remedy
        assert shipped.remedied_deployment_id == deployment_row(story, bad).id
        assert len(story.issues()) == 1


def test_a_merged_revert_that_fails_escalates_to_p0_with_its_label(tmp_path: Path) -> None:
    with story_world(tmp_path, strategy="revert") as story, workers(story):
        _bad, pull, issue = revert_pull_opened(story)
        assert "severity:P1" in issue.labels

        story.sandbox.merge_pull(REPO, pull.number)
        # The revert is deployed, but the shop stays broken (say, its database).
        deployed = story.deploy("main", "v2")
        row = wait_for("the merged revert's verdict", lambda: story.finished(deployed))

        assert row.verdict is VerdictKind.FAIL
        assert row.decision is not None
        assert (row.decision["severity"], row.decision["escalated"]) == ("P0", True)
        (escalation,) = wait_for(
            "the escalation",
            lambda: comment_with(story, issue.number, "failed its verification: escalated"),
        )
        assert "This incident is now **P0**" in escalation
        (incident,) = story.incidents()
        assert incident.severity.value == "P0"
        (relabelled,) = story.issues()
        severities = [name for name in relabelled.labels if name.startswith("severity:")]
        assert severities == ["severity:P0"]
        # The other labels stay as they were.
        assert {"incident", "env:production", "deploy-guard"} <= set(relabelled.labels)
        # A rollback is never rolled back: still one remedy, one issue, no new pull request.
        assert len(story.remedies()) == len(story.issues()) == 1
        assert len([p for p in story.pulls() if p.head_ref.startswith("deploy-guard/")]) == 1


def test_a_deployment_without_the_revert_is_not_the_rollback(tmp_path: Path) -> None:
    with story_world(tmp_path, strategy="revert") as story, workers(story):
        _bad, _pull, issue = revert_pull_opened(story)

        # Someone fixes forward on main (as an admin) instead of merging the revert.
        fix = {"app/checkout.py": "def checkout(cart):\n    return sum(cart)  # fixed\n"}
        fixed = story.sandbox.commit(REPO, fix, "Fix checkout forward")
        deployed = story.deploy("main", "v1")
        row = wait_for("the fix's verdict", lambda: story.finished(deployed))

        assert row.verdict is VerdictKind.PASS
        assert fixed == deployment_row(story, deployed).sha
        assert not deployment_row(story, deployed).is_remedy
        (remedy,) = story.remedies()
        assert remedy.created_deployment_id is None
        assert comment_with(story, issue.number, "Service restored") == []
