"""The whole story with `strategy: redeploy`: a bad deployment rolled back, its incident filed.

The pipeline deploys v1.3.2 (verified good), then a commit that breaks the shop. The guard
redeploys v1.3.2 once, files one incident issue (built-in template, labels, suspects, one
comment on the suspect pull request), then marks the bad deployment failed, once, and inactive.
Then the rollback's own deployment is verified: passing, it brings "service restored" with the
times; failing, it escalates to P0 on the same issue and is never rolled back itself.
"""

from __future__ import annotations

from pathlib import Path

from guard.outcomes import VerdictKind
from guard.store import RemedyState
from tests.jobs_world import wait_for
from tests.story_world import (
    BAD_SUBJECT,
    ENVIRONMENT,
    GOOD_TAG,
    PUBLIC_URL,
    Story,
    comment_with,
    settled,
    story_world,
    workers,
)


def bad_deployment(story: Story) -> int:
    story.deploy_good()
    story.break_main()
    return story.deploy("main", "v2")


def test_a_failed_deployment_is_redeployed_to_the_last_good_ref_and_filed_once(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story, workers(story):
        bad = bad_deployment(story)
        row = settled(story, bad)

        assert (row.verdict, row.decision and row.decision["action"]) == (
            VerdictKind.FAIL,
            "rollback",
        )
        # Exactly one new deployment, of the last good ref, saying whose rollback it is.
        (rollback,) = story.rollbacks()
        assert (rollback.ref, rollback.sha, rollback.environment) == (
            GOOD_TAG,
            story.good_sha,
            ENVIRONMENT,
        )
        ours = rollback.payload["deploy_guard"]
        assert (ours["remedy_of"], ours["failed_sha"]) == (bad, story.bad_sha)
        assert ours["idempotency_key"]
        # The bad deployment: one `failure` (the reason and the rollback), no longer live.
        assert story.statuses(bad)[-3:] == ["success", "failure", "inactive"]
        (remedy,) = story.remedies()
        assert (remedy.state, remedy.created_deployment_id) == (RemedyState.DONE, rollback.id)
        assert story.known_bad() == [story.bad_sha]

        (issue,) = story.issues()
        (incident,) = story.incidents()
        assert (incident.issue_number, incident.remedy_told) == (issue.number, "done")
        assert {"incident", "severity:P1", f"env:{ENVIRONMENT}", "deploy-guard"} <= set(
            issue.labels
        )
        assert issue.title.startswith(f"[P1] {ENVIRONMENT}: deployment of {story.bad_sha[:7]}")
        body = issue.body
        assert f"<!-- deploy-guard:incident repo=octo-org/shop deployment={bad} -->" in body
        assert "**P1** (high" in body
        assert "| home page |" in body
        assert f"The guard rolled back to `{GOOD_TAG} ({story.good_sha[:7]})` with redeploy." in (
            body
        )
        # The suspect commits between the last good and the bad deployment, with the pull.
        assert f"between the last good `{story.good_sha[:7]}` (`{GOOD_TAG}`)" in body
        assert f"{BAD_SUBJECT} (#{story.pull_number})" in body
        assert f"{PUBLIC_URL}/runs/{row.id}" in body
        # The suspect pull request hears about it, once.
        (suspect,) = story.comments_on(story.pull_number)
        assert f"deploy-guard:suspect repo=octo-org/shop deployment={bad}" in suspect

        # The pipeline ships the rollback; its own verification passes: service restored.
        story.ship(rollback.id, "v1")
        wait_for("the rollback's verdict", lambda: story.finished(rollback.id))
        (restored,) = wait_for(
            "service restored", lambda: comment_with(story, issue.number, "Service restored")
        )
        assert "| Time to detect | Time to restore |" in restored
        assert "unknown" not in restored
        assert f"deployment {rollback.id}" in restored
        # Still one of everything: the rollback is not rolled back, no second issue.
        assert len(story.rollbacks()) == len(story.remedies()) == len(story.issues()) == 1
        assert len(story.comments_on(issue.number)) == 1


def test_a_rollback_that_fails_its_own_verification_escalates_and_is_never_rolled_back(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story, workers(story):
        bad = bad_deployment(story)
        settled(story, bad)
        (rollback,) = story.rollbacks()
        (issue,) = story.issues()
        assert issue.title.startswith("[P1] production: ")
        filed_title = issue.title

        # The pipeline ships the old ref, but the shop stays broken (say, the database).
        story.ship(rollback.id, "v2")
        verdict = wait_for("the rollback's verdict", lambda: story.finished(rollback.id))

        assert verdict.verdict is VerdictKind.FAIL
        assert verdict.decision is not None
        assert (verdict.decision["severity"], verdict.decision["escalated"]) == ("P0", True)
        (escalation,) = wait_for(
            "the escalation",
            lambda: comment_with(story, issue.number, "failed its verification: escalated"),
        )
        assert "This incident is now **P0**" in escalation
        assert "a person must act now" in escalation
        (incident,) = story.incidents()
        assert incident.severity.value == "P0"
        # The title says P0 too, written in the same PATCH as the label: "[P1] ..." -> "[P0] ...".
        (escalated,) = wait_for(
            "the P0 label", lambda: [i for i in story.issues() if "severity:P0" in i.labels]
        )
        assert escalated.title == "[P0]" + filed_title.removeprefix("[P1]")
        # Never a second remedy, never a second issue, and the rollback keeps its statuses.
        assert len(story.rollbacks()) == len(story.remedies()) == len(story.issues()) == 1
        assert "inactive" not in story.statuses(rollback.id)
        # The good commit is not known-bad: known-good code failing points elsewhere.
        assert story.known_bad() == [story.bad_sha]


def test_without_a_verified_good_ref_nothing_is_rolled_back_and_the_incident_says_so(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story, workers(story):
        story.break_main()
        bad = story.deploy("main", "v2")
        settled(story, bad)

        assert story.rollbacks() == []
        assert story.remedies() == []
        (issue,) = story.issues()
        assert (
            "No remedy: there is no verified-good deployment of production to roll back to."
            in issue.body
        )
        (incident,) = story.incidents()
        assert incident.remedy_told == "refused"


def test_shadow_mode_describes_the_rollback_and_changes_nothing(tmp_path: Path) -> None:
    with story_world(tmp_path, mode="shadow") as story, workers(story):
        bad = bad_deployment(story)
        settled(story, bad)

        assert story.rollbacks() == []
        assert story.head() == story.bad_sha
        # Shadow mode does not even mark the deployment failed.
        assert "failure" not in story.statuses(bad)
        (remedy,) = story.remedies()
        assert (remedy.state, remedy.dry_run) == (RemedyState.SKIPPED, True)
        (issue,) = story.issues()
        assert "in shadow mode" in issue.title
        assert (
            f"Shadow mode: the guard would have rolled back to `{GOOD_TAG} "
            f"({story.good_sha[:7]})` with redeploy; it changed nothing." in issue.body
        )


def test_a_dry_run_guard_describes_the_rollback_and_claims_nothing(tmp_path: Path) -> None:
    with story_world(tmp_path) as story:
        with workers(story):
            story.deploy_good()
        with workers(story, GUARD_DRY_RUN="true"):
            story.break_main()
            bad = story.deploy("main", "v2")
            settled(story, bad)

        assert story.rollbacks() == []
        # A dry run writes no claim: a real run may follow it.
        assert story.remedies() == []
        (issue,) = story.issues()
        assert (
            f"Dry run: the guard would redeploy {GOOD_TAG} ({story.good_sha[:7]}) to production. "
            "It changed nothing." in issue.body
        )
        (incident,) = story.incidents()
        assert incident.remedy_told == "described"
