"""Port operations end to end against the sandbox: contents, checks, issues, actions, git."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guard.github.errors import AmbiguousWriteError, NotFoundError, RefusedError
from guard.github.models import ChangedFile, IssueRef
from guard.sandbox import FaultKind
from tests.github_world import DEVELOPER, REPO, World, sandbox_world

MARKER = "<!-- deploy-guard:incident deployment=41 -->"


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def test_files_are_read_at_a_ref_and_absence_is_none(world: World) -> None:
    client = world.client()
    first = world.sandbox.branch_sha(REPO)
    assert first is not None
    blob = bytes(range(256))
    world.sandbox.commit(REPO, {"app/server.py": "print('v2')\n", "logo.bin": blob})
    assert client.get_file(REPO, "app/server.py", first) == b"print('v1')\n"
    assert client.get_file(REPO, "app/server.py", "main") == b"print('v2')\n"
    assert client.get_file(REPO, "logo.bin", "main") == blob
    assert client.get_file(REPO, "logo.bin", first) is None
    assert client.get_file(REPO, "app", "main") is None
    assert client.default_branch(REPO) == "main"


def test_repository_names_are_checked_before_any_call(world: World) -> None:
    client = world.client()
    with pytest.raises(ValueError, match="owner/name"):
        client.default_branch("acme/shop/../../app")
    assert world.sandbox.calls.all() == []


def test_check_runs_are_created_and_completed(world: World) -> None:
    client = world.client()
    head = world.sandbox.branch_sha(REPO)
    assert head is not None
    run = client.create_check_run(
        REPO,
        head,
        "deploy-guard",
        status="in_progress",
        title="Verifying",
        summary="smoke checks running",
        details_url="https://guard.example/runs/1",
    )
    client.update_check_run(
        REPO, run.id, status="completed", conclusion="failure", title="Failed", summary="5xx"
    )
    record = world.sandbox.runtime.state.check_runs[run.id]
    assert (record.name, record.head_sha) == ("deploy-guard", head)
    assert (record.status, record.conclusion, record.output_title) == (
        "completed",
        "failure",
        "Failed",
    )
    assert record.details_url == "https://guard.example/runs/1"


def test_a_check_run_is_found_again_by_its_external_id(world: World) -> None:
    client = world.client()
    head = world.sandbox.branch_sha(REPO)
    assert head is not None
    assert client.find_check_run(REPO, head, "deploy-guard / production", "dg:7:1") is None
    first = client.create_check_run(
        REPO,
        head,
        "deploy-guard / production",
        status="in_progress",
        title="Verifying",
        summary="smoke checks running",
        external_id="dg:7:1",
    )
    # A later attempt of the same name hides the first from GitHub's default (latest) list.
    second = client.create_check_run(
        REPO,
        head,
        "deploy-guard / production",
        status="in_progress",
        title="Verifying",
        summary="attempt 2",
        external_id="dg:7:2",
    )
    found = client.find_check_run(REPO, head, "deploy-guard / production", "dg:7:1")
    assert found is not None
    assert found.id == first.id
    listed = client.list_check_runs_for_ref(REPO, head, "deploy-guard / production")
    assert [(run.id, run.external_id) for run in listed] == [(second.id, "dg:7:2")]
    assert client.find_check_run(REPO, head, "another name", "dg:7:1") is None


def test_issues_are_filed_and_found_again_by_marker_even_when_closed(world: World) -> None:
    client = world.client()
    world.sandbox.set_permission(REPO, "dee", "write")
    client.ensure_labels(REPO, {"incident": "#d73a4a", "deploy-guard": "0e8a16"})
    client.ensure_labels(REPO, {"incident": "d73a4a"})
    labels = world.sandbox.runtime.state.labels
    assert labels[f"{REPO}:incident"].color == "d73a4a"
    assert labels[f"{REPO}:deploy-guard"].color == "0e8a16"

    client.create_issue(REPO, "Unrelated", "no marker here", ["incident"])
    filed = client.create_issue(
        REPO,
        "Deployment 41 failed",
        f"It broke.\n\n{MARKER}\n",
        ["incident"],
        ["dee"],
        marker=MARKER,
    )
    record = world.sandbox.runtime.state.issues[f"{REPO}#{filed.number}"]
    assert (record.labels, record.assignees) == (["incident"], ["dee"])

    world.sandbox.runtime.state.issues[f"{REPO}#{filed.number}"].state = "closed"
    assert client.find_issue_with_marker(REPO, MARKER, ["incident"]) == IssueRef(
        filed.number, filed.title, "closed", filed.html_url
    )
    assert client.find_issue_with_marker(REPO, MARKER, ["deploy-guard"]) is None
    assert client.find_issue_with_marker(REPO, "<!-- other -->", ["incident"]) is None


def test_a_marker_must_be_in_the_body(world: World) -> None:
    with pytest.raises(ValueError, match="marker"):
        world.client().create_issue(REPO, "t", "body without it", marker=MARKER)


def test_comments_land_on_the_issue(world: World) -> None:
    client = world.client()
    issue = client.create_issue(REPO, "Incident", "body")
    comment = client.comment_on_issue(REPO, issue.number, "Rolled back to abc123.")
    stored = world.sandbox.runtime.state.comments[comment.id]
    assert (stored.issue_number, stored.body) == (issue.number, "Rolled back to abc123.")
    with pytest.raises(NotFoundError):
        client.comment_on_issue(REPO, 999, "nobody home")


def test_a_comment_whose_answer_is_lost_is_not_posted_twice(world: World) -> None:
    client = world.client()
    issue = client.create_issue(REPO, "Incident", "body")
    world.sandbox.add_fault(
        FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/issues/*/comments", status=502
    )
    with pytest.raises(AmbiguousWriteError):
        client.comment_on_issue(REPO, issue.number, "once")
    assert len(world.sandbox.calls.matching("POST", f"/repos/{REPO}/issues/*/comments")) == 1


def test_protection_rules_are_approved_and_reported_on(world: World) -> None:
    client = world.client()
    client.review_protection_rule(REPO, 77, "production", "approved", "all checks green")
    client.review_protection_rule(REPO, 77, "production", None, "still watching " + "x" * 2000)
    reviews = world.sandbox.reviews()
    assert [(r["run_id"], r["environment_name"], r["state"]) for r in reviews] == [
        (77, "production", "approved"),
        (77, "production", None),
    ]
    assert len(reviews[1]["comment"]) == 1024


def test_workflows_are_dispatched_with_inputs(world: World) -> None:
    client = world.client()
    client.dispatch_workflow(REPO, "deploy.yml", "main", {"environment": "production"})
    (dispatch,) = world.sandbox.dispatches()
    assert (dispatch["workflow_id"], dispatch["ref"], dispatch["inputs"]) == (
        "deploy.yml",
        "main",
        {"environment": "production"},
    )
    with pytest.raises(RefusedError, match="No ref found"):
        client.dispatch_workflow(REPO, "deploy.yml", "no-such-branch", {})


def test_commits_and_comparisons_name_authors_and_files(world: World) -> None:
    client = world.client()
    base = client.get_branch_head(REPO, "main")
    second = world.sandbox.commit(
        REPO, {"app/server.py": "print('v2')\n"}, "Speed up checkout\n\nDetails.", author=DEVELOPER
    )
    third = world.sandbox.commit(REPO, {"README.md": None, "NEW.md": "new\n"}, "Tidy docs")

    commit = client.get_commit(REPO, second)
    assert commit.parents == (base,)
    assert commit.subject == "Speed up checkout"
    assert (commit.author_name, commit.author_email, commit.author_login) == (
        "Dee Veloper",
        "dee@example.com",
        "dee",
    )
    assert commit.tree_sha != client.get_commit(REPO, base).tree_sha

    comparison = client.compare(REPO, base, third)
    assert comparison.ahead_by == 2
    assert comparison.merge_base_sha == base
    assert [c.sha for c in comparison.commits] == [second, third]
    assert comparison.commits[0].author_login == "dee"
    assert set(comparison.files) == {
        ChangedFile("app/server.py", "modified"),
        ChangedFile("README.md", "removed"),
        ChangedFile("NEW.md", "added"),
    }
    with pytest.raises(NotFoundError):
        client.get_commit(REPO, "0" * 40)


def test_the_installation_token_is_handed_out_for_git(world: World) -> None:
    client = world.client()
    token = client.installation_token()
    assert token == client.installation_token(world.installation_id)
    assert world.sandbox.runtime.state.tokens[token].installation_id == world.installation_id
    assert token not in repr(client)
