"""The story with `strategy: revert`: a commit that restores the good tree, or a pull request.

On an open branch the guard fast-forwards main with a commit whose tree is the last good tree
(`git diff --quiet` finds nothing between them); on a protected branch it opens one revert pull
request instead, linked from the incident. Real git in the sandbox, real pushes over HTTP.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from guard.store import RemedyState
from tests.jobs_world import wait_for
from tests.story_world import REPO, Story, comment_with, settled, story_world, workers


def git(story: Story, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "--git-dir", str(story.sandbox.git_dir(REPO)), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def same_tree(story: Story, left: str, right: str) -> bool:
    """`git diff --quiet`: exit 0 means the two commits hold the same files."""
    done = git(story, "diff", "--quiet", left, right)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def test_a_revert_commit_restores_the_last_good_tree_on_the_branch(tmp_path: Path) -> None:
    with story_world(tmp_path, strategy="revert") as story, workers(story):
        story.deploy_good()
        story.break_main()
        bad = story.deploy("main", "v2")
        settled(story, bad)

        head = story.head()
        assert head != story.bad_sha
        assert same_tree(story, head, story.good_sha)
        assert not same_tree(story, head, story.bad_sha)
        # A fast-forward on top of the bad commit: history kept, nothing forced.
        assert git(story, "rev-parse", f"{head}^").stdout.strip() == story.bad_sha
        message = git(story, "log", "-1", "--format=%B", head).stdout
        assert message.startswith(f'Revert "{story.good_sha[:7]}..{story.bad_sha[:7]}"')
        assert f"(deploy-guard: deployment {bad} failed verification)" in message
        (remedy,) = story.remedies()
        assert (remedy.strategy, remedy.state, remedy.created_commit_sha) == (
            "revert",
            RemedyState.DONE,
            head,
        )
        assert story.rollbacks() == []
        (issue,) = story.issues()
        assert "with revert." in issue.body
        assert f"/octo-org/shop/commit/{head}" in issue.body

        # The pipeline deploys main, now the revert: that deployment is the rollback's own.
        revert = story.deploy("main", "v1")
        wait_for("the revert's verdict", lambda: story.finished(revert))
        (restored,) = wait_for(
            "service restored", lambda: comment_with(story, issue.number, "Service restored")
        )
        assert f"deployment {revert} ({head[:7]})" in restored
        (remedy,) = story.remedies()
        assert remedy.created_deployment_id == revert
        assert len(story.issues()) == 1


def test_a_protected_branch_gets_one_revert_pull_request_linked_from_the_incident(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path, strategy="revert") as story, workers(story):
        story.deploy_good()
        story.break_main()
        story.sandbox.protect_branch(REPO, "main", require_pull_request=True)
        bad = story.deploy("main", "v2")
        settled(story, bad)

        # Main is untouched; the revert waits in a pull request.
        assert story.head() == story.bad_sha
        reverts = [p for p in story.pulls() if p.head_ref.startswith("deploy-guard/revert-")]
        (pull,) = reverts
        assert (pull.head_ref, pull.base_ref) == (f"deploy-guard/revert-{bad}", "main")
        assert same_tree(story, pull.head_sha, story.good_sha)
        (remedy,) = story.remedies()
        assert (remedy.strategy, remedy.state, remedy.pull_request_number) == (
            "revert_pr",
            RemedyState.DONE,
            pull.number,
        )
        (issue,) = story.issues()
        url = f"{story.sandbox.base_url}/{REPO}/pull/{pull.number}"
        assert remedy.html_url == url
        assert f"The remedy: {url}" in issue.body
        assert (
            "The guard opened a pull request that reverts the deployment: merging it rolls back "
            f"to `v1.3.2 ({story.good_sha[:7]})`." in issue.body
        )
