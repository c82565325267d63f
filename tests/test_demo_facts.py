"""The demo reads its story from GitHub's records: what happened, what is missing, what is new."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from guard.demo.facts import StoryFacts, Tables
from guard.demo.observer import Observer
from guard.incidents.context import incident_marker
from guard.incidents.updates import UpdateDetails, UpdateKind, render_update
from guard.sandbox.models import (
    CheckRunRecord,
    CommentRecord,
    DeploymentRecord,
    DeploymentStatusRecord,
    IssueRecord,
)
from guard.sandbox.webhooks import Delivery

REPO = "octo-org/demo-shop"
V1 = "1" * 40
V2 = "2" * 40
BOT = "deploy-guard[bot]"
NOW = "2026-01-01T00:00:00Z"


def deployment(id: int, sha: str, *, by_guard: bool = False) -> DeploymentRecord:
    return DeploymentRecord(
        id=id,
        repo=REPO,
        sha=sha,
        ref=sha if by_guard else "main",
        task="deploy",
        payload={"deploy_guard": {"remedy_of": 2}} if by_guard else {},
        environment="production",
        original_environment="production",
        creator=BOT if by_guard else "mona",
        created_at=NOW,
        updated_at=NOW,
        app_id=1 if by_guard else None,
    )


def check_run(
    id: int, sha: str, conclusion: str | None, *, deployment: int | None = None
) -> CheckRunRecord:
    return CheckRunRecord(
        id=id,
        repo=REPO,
        name="deploy-guard / production",
        head_sha=sha,
        status="completed" if conclusion else "in_progress",
        app_id=1,
        check_suite_id=1,
        conclusion=conclusion,
        details_url=f"http://127.0.0.1:8000/runs/{id}",
        external_id=f"deploy-guard:{deployment}:{id}" if deployment else None,
        output_title="Passed" if conclusion == "success" else "Failed",
    )


def issue(number: int, failed_deployment: int) -> IssueRecord:
    return IssueRecord(
        id=100 + number,
        repo=REPO,
        number=number,
        title="[P0] production: deployment of 2222222 failed verification (INC-1)",
        user=BOT,
        created_at=NOW,
        updated_at=NOW,
        body=f"{incident_marker(REPO, failed_deployment)}\nThe shop is down.",
        labels=["incident", "deploy-guard"],
        assignees=["mona"],
    )


def comment(id: int, number: int, kind: UpdateKind) -> CommentRecord:
    body = render_update(REPO, number, kind, "deployment 3 passed", UpdateDetails())
    return CommentRecord(id, REPO, number, body, BOT, NOW, NOW)


@dataclass
class Story:
    """The records of a story, built up step by step like GitHub would hold them."""

    deployments: list[DeploymentRecord] = field(default_factory=list)
    statuses: list[DeploymentStatusRecord] = field(default_factory=list)
    check_runs: list[CheckRunRecord] = field(default_factory=list)
    issues: list[IssueRecord] = field(default_factory=list)
    comments: list[CommentRecord] = field(default_factory=list)

    def facts(self) -> StoryFacts:
        tables = Tables(
            list(self.deployments),
            list(self.statuses),
            list(self.check_runs),
            list(self.issues),
            list(self.comments),
        )
        found = {d.id: d for d in self.deployments}
        return StoryFacts(tables, REPO, found.get(1), found.get(2))


def completed_story(*, external_ids: bool = True) -> Story:
    def named(deployment_id: int) -> int | None:
        return deployment_id if external_ids else None

    return Story(
        deployments=[deployment(1, V1), deployment(2, V2), deployment(3, V1, by_guard=True)],
        check_runs=[
            check_run(1, V1, "success", deployment=named(1)),
            check_run(2, V2, "failure", deployment=named(2)),
            check_run(3, V1, "success", deployment=named(3)),
        ],
        issues=[issue(1, 2)],
        comments=[
            comment(1, 1, UpdateKind.REMEDY_DONE),
            comment(2, 1, UpdateKind.SERVICE_RESTORED),
        ],
    )


def test_a_completed_story_misses_nothing() -> None:
    facts = completed_story().facts()
    assert facts.missing() == []
    assert facts.restored
    assert facts.incident is not None
    assert facts.incident.number == 1


def test_without_external_ids_the_rollbacks_run_is_the_second_on_v1s_commit() -> None:
    story = completed_story(external_ids=False)
    story.check_runs[2] = replace(story.check_runs[2], conclusion="failure", output_title="Down")
    facts = story.facts()
    assert facts.v1_check is story.check_runs[0]
    assert facts.remedy_check is story.check_runs[2]
    assert facts.missing() == [
        "the rollback (deployment 3) did not pass its verification (failure: Down)"
    ]


def test_nothing_deployed_yet() -> None:
    assert Story().facts().missing() == ["v1 was never deployed", "v2 was never deployed"]


def test_a_verification_still_running_is_not_a_verdict() -> None:
    story = Story(deployments=[deployment(1, V1)], check_runs=[check_run(1, V1, None)])
    facts = story.facts()
    assert facts.v1_gap() == (
        "v1 (deployment 1) has no finished verification (check run: in_progress: Failed)"
    )


def test_a_v1_that_failed_is_named() -> None:
    story = Story(deployments=[deployment(1, V1)], check_runs=[check_run(1, V1, "failure")])
    assert story.facts().v1_gap() == (
        "v1 (deployment 1) was expected to pass, but its check run says failure: Failed"
    )


def test_after_the_failure_each_missing_act_is_named() -> None:
    story = completed_story()
    story.deployments.pop()
    story.check_runs.pop()
    story.issues.clear()
    story.comments.clear()
    assert story.facts().missing() == [
        "the guard created no rollback deployment of v1's commit 1111111",
        "no incident issue was filed for deployment 2",
    ]


def test_duplicates_are_gaps_too() -> None:
    story = completed_story()
    story.deployments.append(deployment(4, V1, by_guard=True))
    story.issues.append(issue(2, 2))
    assert story.facts().missing() == [
        "the guard created 2 rollback deployments of 1111111, not one",
        "2 incident issues were filed for deployment 2, not one",
    ]


def test_an_incident_without_the_restored_comment_is_not_the_end() -> None:
    story = completed_story()
    story.comments.pop()
    assert story.facts().missing() == ["no 'Service restored' comment on incident #1"]


def test_issues_of_other_deployments_are_not_this_incident() -> None:
    story = completed_story()
    story.issues = [issue(1, 99)]
    facts = story.facts()
    assert facts.incident is None
    assert "no incident issue was filed for deployment 2" in facts.missing()


def test_the_observer_tells_each_change_once() -> None:
    observer = Observer(app_login=BOT)
    story = Story(deployments=[deployment(1, V1)], check_runs=[check_run(1, V1, None)])
    deliveries = [
        Delivery("a", "deployment", "created", 200, None),
        Delivery("b", "deployment_status", "created", 202, None),
    ]
    first = observer.changes(story.facts().tables, deliveries)
    assert first == [
        "GitHub: deployment 1 of 1111111 (main) to production created by mona",
        "webhook deployment_status.created signed and delivered to serve: 202 "
        "(accepted: work queued)",
        "deploy-guard check run on 1111111: Failed",
    ]
    assert observer.changes(story.facts().tables, deliveries) == []

    story.check_runs[0] = check_run(1, V1, "success")
    story.deployments.append(deployment(3, V1, by_guard=True))
    story.statuses.append(
        DeploymentStatusRecord(7, 2, REPO, "failure", BOT, NOW, NOW, description="P0: down")
    )
    story.issues.append(issue(1, 2))
    story.comments.append(comment(1, 1, UpdateKind.SERVICE_RESTORED))
    deliveries.append(Delivery("c", "deployment", "created", None, "connection refused"))
    assert observer.changes(story.facts().tables, deliveries) == [
        "deploy-guard rolled back: deployment 3 of 1111111 to production (the last "
        "verified-good commit), created by deploy-guard[bot]",
        "webhook deployment.created could not be delivered to serve: connection refused",
        "deploy-guard set deployment 2 to failure: P0: down",
        "deploy-guard check run on 1111111 completed, success: Passed",
        "deploy-guard filed incident #1: [P0] production: deployment of 2222222 failed "
        "verification (INC-1)",
        "  labels: incident, deploy-guard; assigned to: @mona",
        "deploy-guard commented on #1: Service restored",
    ]


def test_the_observer_leaves_the_pipelines_own_statuses_to_the_pipeline() -> None:
    observer = Observer(app_login=BOT)
    story = Story(
        statuses=[DeploymentStatusRecord(1, 1, REPO, "success", "mona", NOW, NOW)],
    )
    assert observer.changes(story.facts().tables, []) == []
