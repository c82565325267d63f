"""Issues, comments, labels, checks, protection-rule reviews and dispatches in the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import requests
from github import Github, GithubException

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


def test_issue_with_new_labels_assignees_and_comments(
    world: SandboxWorld, app_github: Github
) -> None:
    world.sandbox.add_user("oncall", name="On Call")
    repo = app_github.get_repo(world.repo)
    issue = repo.create_issue(
        title="Deployment 3 to production failed",
        body="Smoke check `/healthz` answered 503.",
        labels=["deploy-guard", "incident"],
        assignees=["oncall"],
    )
    assert issue.number == 1
    assert issue.user.login == "deploy-guard[bot]"
    assert sorted(label.name for label in issue.labels) == ["deploy-guard", "incident"]
    assert [user.login for user in issue.assignees] == ["oncall"]
    comment = issue.create_comment("Rolled back to abc123.")
    assert comment.body == "Rolled back to abc123."
    assert comment.html_url.endswith(f"/issues/1#issuecomment-{comment.id}")
    assert repo.get_issue(1).comments == 1
    issue.edit(state="closed")
    closed = repo.get_issue(1)
    assert closed.state == "closed"
    assert closed.closed_at is not None
    assert closed.state_reason == "completed"


def test_issue_body_longer_than_github_allows_is_refused(
    world: SandboxWorld, app_github: Github
) -> None:
    repo = app_github.get_repo(world.repo)
    repo.create_issue(title="fits", body="x" * 65536)
    with pytest.raises(GithubException) as refused:
        repo.create_issue(title="too long", body="x" * 65537)
    assert refused.value.status == 422
    error = refused.value.data["errors"][0]
    assert error["field"] == "body"
    assert error["message"].startswith("body is too long")
    issue = repo.get_issue(1)
    with pytest.raises(GithubException):
        issue.create_comment("y" * 65537)


def test_unknown_assignee_is_a_validation_error(world: SandboxWorld, app_github: Github) -> None:
    with pytest.raises(GithubException) as refused:
        app_github.get_repo(world.repo).create_issue(title="t", assignees=["ghost"])
    assert refused.value.status == 422


def test_labels_are_dropped_for_callers_without_push_access(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    visitor = world.sandbox.register_token("visitor")
    answer = requests.post(
        f"{world.base_url}/repos/{world.repo}/issues",
        headers={"Authorization": f"token {visitor}"},
        json={"title": "hello", "labels": ["bug"]},
        timeout=10,
    )
    assert answer.status_code == 201
    assert answer.json()["labels"] == []
    assert answer.json()["author_association"] == "NONE"
    owned = owner_http.post(
        f"{world.base_url}/repos/{world.repo}/issues", json={"title": "mine", "labels": ["bug"]}
    )
    assert [label["name"] for label in owned.json()["labels"]] == ["bug"]
    assert owned.json()["author_association"] == "OWNER"


def test_list_issues_filters_and_paginates(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    url = f"{world.base_url}/repos/{world.repo}/issues"
    for n in range(4):
        labels = ["incident"] if n % 2 else []
        owner_http.post(url, json={"title": f"issue {n}", "labels": labels})
    owner_http.patch(f"{url}/1", json={"state": "closed"})
    open_incidents = owner_http.get(url, params={"labels": "incident"}).json()
    assert [issue["number"] for issue in open_incidents] == [4, 2]
    page = owner_http.get(url, params={"state": "all", "per_page": "3"})
    assert [issue["number"] for issue in page.json()] == [4, 3, 2]
    assert 'rel="next"' in page.headers["Link"]
    assert owner_http.get(f"{url}/99").status_code == 404


def test_create_label_once(world: SandboxWorld, app_github: Github) -> None:
    repo = app_github.get_repo(world.repo)
    label = repo.create_label("rollback", "d73a4a", "A deploy-guard rollback")
    assert (label.name, label.color, label.description) == (
        "rollback",
        "d73a4a",
        "A deploy-guard rollback",
    )
    with pytest.raises(GithubException) as duplicate:
        repo.create_label("Rollback", "ffffff")
    assert duplicate.value.data["errors"][0]["code"] == "already_exists"


def test_check_runs_need_an_app_and_complete_with_a_conclusion(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    repo = app_github.get_repo(world.repo)
    sha = str(world.sandbox.branch_sha(world.repo))
    run = repo.create_check_run(name="deploy-guard", head_sha=sha, status="in_progress")
    assert (run.status, run.app.slug) == ("in_progress", "deploy-guard")
    assert run.raw_data["conclusion"] is None
    run.edit(conclusion="failure", output={"title": "Smoke failed", "summary": "503 from /healthz"})
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert run.output.title == "Smoke failed"
    refused = owner_http.post(
        f"{world.base_url}/repos/{world.repo}/check-runs", json={"name": "x", "head_sha": sha}
    )
    assert refused.status_code == 403
    assert refused.json()["message"] == "You must authenticate via a GitHub App."


def test_commit_status_on_a_sha(world: SandboxWorld, app_github: Github) -> None:
    repo = app_github.get_repo(world.repo)
    sha = str(world.sandbox.branch_sha(world.repo))
    status = repo.get_commit(sha).create_status(
        "pending", target_url="https://guard.example/runs/1", context="deploy-guard/verify"
    )
    assert (status.state, status.context) == ("pending", "deploy-guard/verify")
    assert status.creator.login == "deploy-guard[bot]"


def test_protection_rule_reviews_are_recorded(world: SandboxWorld, app_github: Github) -> None:
    path = f"/repos/{world.repo}/actions/runs/4242/deployment_protection_rule"
    status, _, _ = app_github.requester.requestJson(
        "POST", path, input={"environment_name": "production", "comment": "Checking canary"}
    )
    assert status == 204
    status, _, _ = app_github.requester.requestJson(
        "POST",
        path,
        input={"environment_name": "production", "state": "approved", "comment": "Canary green"},
    )
    assert status == 204
    invalid, _, _ = app_github.requester.requestJson(
        "POST", path, input={"environment_name": "production", "state": "maybe"}
    )
    assert invalid == 422
    # Strict mode also notices the client's side: GitHub's description has no such state.
    [violation] = world.sandbox.violations()
    assert (violation.kind, violation.status) == ("request", 422)
    world.sandbox.clear_violations()
    reviews = world.sandbox.reviews()
    assert [(r["run_id"], r["state"], r["comment"]) for r in reviews] == [
        (4242, None, "Checking canary"),
        (4242, "approved", "Canary green"),
    ]
    assert reviews[0]["actor"] == f"installation:{world.installation_id}"


def test_workflow_dispatches_are_recorded(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    url = f"{world.base_url}/repos/{world.repo}/actions/workflows/deploy.yml/dispatches"
    plain = owner_http.post(url, json={"ref": "main", "inputs": {"sha": "abc"}})
    assert plain.status_code == 204
    detailed = owner_http.post(url, json={"ref": "main", "return_run_details": True})
    assert detailed.status_code == 200
    assert detailed.json()["run_url"].startswith(
        f"{world.base_url}/repos/{world.repo}/actions/runs/"
    )
    assert owner_http.post(url, json={"ref": "nope"}).status_code == 422
    dispatches = world.sandbox.dispatches()
    assert [(d["workflow_id"], d["ref"], d["inputs"]) for d in dispatches] == [
        ("deploy.yml", "main", {"sha": "abc"}),
        ("deploy.yml", "main", {}),
    ]


def test_an_issue_creates_its_unknown_labels_grey_and_a_label_takes_a_new_colour(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    """As GitHub: a label an issue names that the repository lacks is created in `ededed`;
    `PATCH .../labels/{name}` recolours it (and 404s for a label that does not exist)."""
    repo_url = f"{world.base_url}/repos/{world.repo}"
    filed = owner_http.post(f"{repo_url}/issues", json={"title": "t", "labels": ["env:prod"]})
    assert [(label["name"], label["color"]) for label in filed.json()["labels"]] == [
        ("env:prod", "ededed")
    ]
    recoloured = owner_http.patch(f"{repo_url}/labels/env:prod", json={"color": "1D76DB"})
    assert recoloured.status_code == 200
    assert (recoloured.json()["name"], recoloured.json()["color"]) == ("env:prod", "1d76db")
    again = owner_http.get(f"{repo_url}/issues/{filed.json()['number']}").json()
    assert [label["color"] for label in again["labels"]] == ["1d76db"]
    assert owner_http.patch(f"{repo_url}/labels/nope", json={"color": "ffffff"}).status_code == 404
    refused = owner_http.patch(f"{repo_url}/labels/env:prod", json={"color": "blue"})
    assert refused.status_code == 422
