"""The sandbox's list endpoints: pulls, issue comments, check runs of a ref, a user's permission."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests
from github import Github

from guard.github.auth import AppAuth
from guard.github.client import GitHubClient
from guard.github.client_lists import list_port

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


def api(world: SandboxWorld, session: requests.Session, path: str, **params: Any) -> Any:
    answer = session.get(f"{world.base_url}/repos/{world.repo}{path}", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def open_pull(world: SandboxWorld, github: Github, branch: str, title: str) -> int:
    world.sandbox.commit(world.repo, {f"{branch}.txt": f"{branch}\n"}, title, branch=branch)
    return github.get_repo(world.repo).create_pull(base="main", head=branch, title=title).number


def test_pulls_filter_by_state_head_and_base(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    first = open_pull(world, app_github, "revert-1", "Revert one")
    second = open_pull(world, app_github, "revert-2", "Revert two")
    app_github.get_repo(world.repo).get_issue(first).edit(state="closed")

    def numbers(**params: Any) -> list[int]:
        return [pull["number"] for pull in api(world, owner_http, "/pulls", **params)]

    assert numbers() == [second]
    assert numbers(state="all") == [second, first]
    assert numbers(state="all", direction="asc") == [first, second]
    assert numbers(state="closed") == [first]
    assert numbers(state="all", head="octo-org:revert-1") == [first]
    assert numbers(state="all", head="someone-else:revert-1") == []
    assert numbers(state="all", base="release") == []
    listed = api(world, owner_http, "/pulls", head="octo-org:revert-2")[0]
    assert (listed["head"]["ref"], listed["base"]["ref"], listed["state"]) == (
        "revert-2",
        "main",
        "open",
    )
    # A list shows the simple shape: nothing that costs a merge to compute.
    assert "mergeable" not in listed


def test_a_pull_lists_where_its_branch_points_now(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    open_pull(world, app_github, "fix", "Fix")
    later = world.sandbox.commit(world.repo, {"fix.txt": "again\n"}, "Again", branch="fix")
    assert api(world, owner_http, "/pulls")[0]["head"]["sha"] == later


def test_pygithub_pages_through_pulls(world: SandboxWorld, app_github: Github) -> None:
    made = [open_pull(world, app_github, f"b{index}", f"Pull {index}") for index in range(5)]
    repo = app_github.get_repo(world.repo)
    pulls = repo.get_pulls(state="open", sort="created", direction="asc")
    assert [pull.number for pull in pulls] == made
    assert world.sandbox.calls.matching("GET", f"/repos/{world.repo}/pulls")


def test_issue_comments_ascend_and_filter_by_time(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    issue = app_github.get_repo(world.repo).create_issue(title="Incident")
    for index in range(3):
        issue.create_comment(f"update {index}")
    bodies = [c["body"] for c in api(world, owner_http, f"/issues/{issue.number}/comments")]
    assert bodies == ["update 0", "update 1", "update 2"]
    paged = api(world, owner_http, f"/issues/{issue.number}/comments", per_page=2, page=2)
    assert [comment["body"] for comment in paged] == ["update 2"]
    future = "2999-01-01T00:00:00Z"
    assert api(world, owner_http, f"/issues/{issue.number}/comments", since=future) == []
    assert [c.body for c in issue.get_comments()] == bodies
    missing = owner_http.get(f"{world.base_url}/repos/{world.repo}/issues/99/comments", timeout=10)
    assert missing.status_code == 404


def test_check_runs_of_a_ref_show_the_latest_of_each_name(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    repo = app_github.get_repo(world.repo)
    sha = world.sandbox.branch_sha(world.repo)
    assert sha is not None
    repo.create_check_run("deploy-guard", sha, status="completed", conclusion="failure")
    repo.create_check_run("deploy-guard", sha, status="in_progress")
    repo.create_check_run("lint", sha, status="completed", conclusion="success")

    latest = api(world, owner_http, "/commits/main/check-runs")
    everything = api(world, owner_http, f"/commits/{sha}/check-runs", filter="all")
    named = api(world, owner_http, "/commits/main/check-runs", check_name="deploy-guard")
    completed = api(world, owner_http, "/commits/main/check-runs", status="completed")

    assert latest["total_count"] == 2
    assert sorted((r["name"], r["status"]) for r in latest["check_runs"]) == [
        ("deploy-guard", "in_progress"),
        ("lint", "completed"),
    ]
    assert everything["total_count"] == 3
    assert [r["status"] for r in named["check_runs"]] == ["in_progress"]
    assert [r["name"] for r in completed["check_runs"]] == ["lint"]
    assert repo.get_commit("main").get_check_runs().totalCount == 2
    unknown = owner_http.get(
        f"{world.base_url}/repos/{world.repo}/commits/nowhere/check-runs", timeout=10
    )
    assert unknown.status_code == 422


@pytest.mark.parametrize(
    ("role", "permission", "push"),
    [
        ("admin", "admin", True),
        ("maintain", "write", True),
        ("write", "write", True),
        ("triage", "read", False),
        ("read", "read", False),
    ],
)
def test_permission_names_the_role_and_its_legacy_level(
    world: SandboxWorld, owner_http: requests.Session, role: str, permission: str, push: bool
) -> None:
    world.sandbox.add_user("bob")
    world.sandbox.set_permission(world.repo, "bob", role)
    answer = api(world, owner_http, "/collaborators/bob/permission")
    assert (answer["permission"], answer["role_name"]) == (permission, role)
    assert answer["user"]["login"] == "bob"
    assert answer["user"]["permissions"]["push"] is push


def test_permission_of_outsiders_and_strangers(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    world.sandbox.add_user("visitor")
    assert api(world, owner_http, "/collaborators/visitor/permission")["permission"] == "read"
    assert api(world, owner_http, "/collaborators/octo-org/permission")["permission"] == "admin"
    assert app_github.get_repo(world.repo).get_collaborator_permission("visitor") == "read"
    stranger = owner_http.get(
        f"{world.base_url}/repos/{world.repo}/collaborators/nobody/permission", timeout=10
    )
    assert stranger.status_code == 404
    world.sandbox.create_repo("octo-org/secret", {"s": "s\n"}, private=True)
    hidden = owner_http.get(
        f"{world.base_url}/repos/octo-org/secret/collaborators/visitor/permission", timeout=10
    )
    assert hidden.json()["permission"] == "none"


def test_the_client_reads_comments_and_check_runs_back(
    world: SandboxWorld, app_github: Github
) -> None:
    repo = app_github.get_repo(world.repo)
    issue = repo.create_issue(title="Incident")
    issue.create_comment("first <!-- marker -->")
    issue.create_comment("second")
    sha = world.sandbox.commit(world.repo, {"x.txt": "x\n"}, "X", branch="feature/x")
    repo.create_check_run("deploy-guard", sha, status="completed", conclusion="failure")
    newest = repo.create_check_run("deploy-guard", sha, status="in_progress")
    repo.create_check_run("lint", sha, status="queued")
    auth = AppAuth(world.app.app_id, world.app.private_key_pem, api_url=world.base_url)
    client = GitHubClient(
        auth,
        world.base_url,
        installation_id=world.installation_id,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    try:
        lists = list_port(client)
        comments = lists.list_issue_comments(world.repo, issue.number)
        runs = lists.list_check_runs_for_ref(world.repo, "feature/x", "deploy-guard")
        every = lists.list_check_runs_for_ref(world.repo, sha)
    finally:
        client.close()
    assert [(c.body, c.author_login) for c in comments] == [
        ("first <!-- marker -->", "deploy-guard[bot]"),
        ("second", "deploy-guard[bot]"),
    ]
    assert [(r.id, r.status, r.app_slug) for r in runs] == [
        (newest.id, "in_progress", "deploy-guard")
    ]
    assert sorted(r.name for r in every) == ["deploy-guard", "lint"]
