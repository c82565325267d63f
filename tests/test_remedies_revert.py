"""Revert on the branch, or a real revert pull request: proven with git in the sandbox's repos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from guard.github.models import DeploymentRef
from guard.outcomes import VerdictKind
from guard.remedies import OutcomeKind, execute_remedy
from guard.remedies.revert_pr import git_url_for
from guard.store import RemedyState
from tests.remedies_world import (
    BAD_CHANGE,
    DEVELOPER,
    GOOD_FILES,
    REASON,
    REPO,
    RemedyWorld,
    remedy_world,
)

CHECKOUT = "app/checkout.py"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RemedyWorld]:
    with remedy_world(f"sqlite:///{tmp_path / 'guard.db'}", tmp_path / "clones") as world:
        yield world


def story(shop: RemedyWorld) -> DeploymentRef:
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    return bad


def revert_branch(bad: DeploymentRef) -> str:
    return f"deploy-guard/revert-{bad.id}"


def test_a_bad_head_is_reverted_by_a_fast_forward_to_the_good_tree(shop: RemedyWorld) -> None:
    bad = story(shop)

    outcome = execute_remedy(shop.context(), shop.request(bad, strategy="revert"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    head = shop.sandbox.branch_sha(REPO)
    assert head is not None
    assert outcome.commit_sha == head
    assert shop.same_tree(shop.good_sha, head)
    assert not shop.same_tree(shop.bad_sha, head)
    assert shop.git("rev-list", "--parents", "-n", "1", head).split() == [head, shop.bad_sha]
    good7, bad7 = shop.good_sha[:7], shop.bad_sha[:7]
    assert shop.git("log", "-1", "--format=%B", head) == (
        f'Revert "{good7}..{bad7}"\n\n'
        f"This reverts commits {shop.good_sha}..{shop.bad_sha} "
        f"(deploy-guard: deployment {bad.id} failed verification).\n\n"
    )
    # Never a force: one PATCH with force false, and history kept.
    assert len(shop.sandbox.calls.matching("PATCH", f"/repos/{REPO}/git/refs/heads/main")) == 1
    (remedy,) = shop.remedies()
    assert (remedy.state, remedy.strategy, remedy.created_commit_sha) == (
        RemedyState.DONE,
        "revert",
        head,
    )
    assert [s.state for s in shop.statuses(bad.id)] == ["success", "failure"]
    assert shop.statuses(bad.id)[-1].description.endswith(f"reverted to v1.3.2 ({good7})")
    assert shop.pulls() == []


def test_a_protected_branch_gets_a_pull_request_instead(shop: RemedyWorld) -> None:
    bad = story(shop)
    shop.sandbox.protect_branch(REPO, "main")

    outcome = execute_remedy(shop.context(), shop.request(bad, strategy="revert"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert outcome.strategy == "revert_pr"
    assert shop.sandbox.branch_sha(REPO) == shop.bad_sha
    (pull,) = shop.pulls()
    branch = revert_branch(bad)
    assert (pull.head_ref, pull.base_ref, pull.number) == (branch, "main", outcome.pull_number)
    head = shop.sandbox.branch_sha(REPO, branch)
    assert head is not None
    assert shop.same_tree(shop.good_sha, head)
    assert shop.git("rev-list", "--parents", "-n", "1", head).split()[1] == shop.bad_sha
    issue = shop.sandbox.runtime.state.issues[f"{REPO}#{pull.number}"]
    assert issue.title == f"Revert deployment {bad.id} to production (deploy-guard)"
    assert issue.body is not None
    assert REASON in issue.body
    assert f"`{shop.good_sha[:7]}..{shop.bad_sha[:7]}` (1 commit)" in issue.body
    assert f"<!-- deploy-guard:remedy deployment={bad.id} -->" in issue.body
    (remedy,) = shop.remedies()
    assert (remedy.strategy, remedy.pull_request_number) == ("revert_pr", pull.number)
    assert remedy.html_url == outcome.html_url
    fell_back = [m for kind, m in shop.timeline(bad.id) if kind == "remedy_fell_back"]
    assert len(fell_back) == 1
    assert "Changes must be made through a pull request" in fell_back[0]


def test_a_moved_head_gets_a_real_revert_that_keeps_the_later_commit(shop: RemedyWorld) -> None:
    bad = story(shop)
    later = shop.sandbox.commit(REPO, {"app/banner.txt": "sale\n"}, "Banner", author=DEVELOPER)

    outcome = execute_remedy(shop.context(), shop.request(bad, strategy="revert"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert outcome.strategy == "revert_pr"
    assert shop.sandbox.branch_sha(REPO) == later
    branch = revert_branch(bad)
    assert shop.git("show", f"{branch}:{CHECKOUT}") == GOOD_FILES[CHECKOUT]
    assert shop.git("show", f"{branch}:app/banner.txt") == "sale\n"
    assert shop.git("rev-list", "--parents", "-n", "1", branch).split()[1] == later
    assert shop.git("log", "-1", "--format=%an <%ae>", branch).strip() == (
        "deploy-guard <deploy-guard@users.noreply.github.com>"
    )
    fell_back = [m for kind, m in shop.timeline(bad.id) if kind == "remedy_fell_back"]
    assert f"main moved on to {later[:7]}" in fell_back[0]
    (pull,) = shop.pulls()
    assert pull.head_ref == branch


def test_a_conflicting_revert_names_the_files_and_pushes_nothing(shop: RemedyWorld) -> None:
    bad = story(shop)
    shop.sandbox.commit(
        REPO, {CHECKOUT: "def checkout(cart):\n    return 0\n"}, "Hotfix", author=DEVELOPER
    )
    mark = shop.sandbox.calls.last_seq

    outcome = execute_remedy(shop.context(), shop.request(bad, strategy="revert_pr"))

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.escalate
    assert f"conflicts in {CHECKOUT}" in outcome.message
    assert "does not guess" in outcome.message
    (remedy,) = shop.remedies()
    assert remedy.state is RemedyState.FAILED
    assert remedy.error is not None
    assert CHECKOUT in remedy.error
    assert shop.sandbox.branch_sha(REPO, revert_branch(bad)) is None
    assert shop.pulls() == []
    assert not [w for w in shop.writes(mark) if "git-receive-pack" in w or "/pulls" in w]
    assert list(shop.workdir.iterdir()) == []
    assert [kind for kind, _ in shop.timeline(bad.id)][-1] == "remedy_failed"


def test_a_merged_pull_request_is_reverted_against_its_first_parent(shop: RemedyWorld) -> None:
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    # Rewind main to the good commit's side: a feature merged in, next to a docs change.
    feature = shop.sandbox.commit(
        REPO, BAD_CHANGE, "Feature", branch="feature", start_from=shop.good_sha
    )
    docs = shop.sandbox.commit(
        REPO, {"docs.md": "docs\n"}, "Docs", branch="trunk", start_from=shop.good_sha
    )
    merged = requests.post(
        f"{shop.sandbox.base_url}/repos/{REPO}/merges",
        headers={"Authorization": f"token {shop.owner_token}"},
        json={"base": "trunk", "head": "feature"},
        timeout=10,
    )
    assert merged.status_code == 201, merged.text
    merge = merged.json()["sha"]
    assert len(merged.json()["parents"]) == 2
    bad = shop.deploy("trunk")

    outcome = execute_remedy(shop.context(), shop.request(bad, strategy="revert_pr"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    branch = revert_branch(bad)
    assert shop.same_tree(shop.good_sha, branch)
    assert shop.git("rev-list", "--count", f"{merge}..{branch}").strip() == "2"
    assert feature != docs


def test_the_token_never_lands_on_disk_and_the_clone_is_removed(shop: RemedyWorld) -> None:
    bad = story(shop)
    shop.sandbox.protect_branch(REPO, "main")
    client = shop.client()
    token = client.installation_token()

    outcome = execute_remedy(shop.context(client), shop.request(bad, strategy="revert_pr"))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert list(shop.workdir.iterdir()) == []
    assert token not in (shop.git_dir / "config").read_text()
    for path in shop.sandbox.data_dir.rglob("*"):
        if path.is_file() and path.suffix in {"", ".json", ".txt"}:
            assert token.encode() not in path.read_bytes(), path
    pushes = shop.sandbox.calls.matching("POST", f"/{REPO}.git/git-receive-pack")
    assert [call.auth for call in pushes] == [f"installation:{shop.installation_id}"]


def test_a_revert_pull_request_is_made_once(shop: RemedyWorld) -> None:
    bad = story(shop)
    first = execute_remedy(shop.context(), shop.request(bad, strategy="revert_pr"))
    mark = shop.sandbox.calls.last_seq

    again = execute_remedy(shop.context(), shop.request(bad, strategy="revert_pr"))

    assert (again.kind, again.pull_number) == (OutcomeKind.TAKEN, first.pull_number)
    assert shop.writes(mark) == []
    assert len(shop.pulls()) == 1


def test_a_branch_that_already_undid_the_change_gets_no_empty_pull(shop: RemedyWorld) -> None:
    bad = story(shop)
    shop.sandbox.commit(REPO, {CHECKOUT: GOOD_FILES[CHECKOUT]}, "Undo by hand")

    outcome = execute_remedy(shop.context(), shop.request(bad, strategy="revert"))

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.message == (
        f"main already undoes {shop.good_sha[:7]}..{shop.bad_sha[:7]}: "
        "there is nothing left to revert."
    )
    assert shop.pulls() == []
    assert shop.sandbox.branch_sha(REPO, revert_branch(bad)) is None


@pytest.mark.parametrize(
    ("api", "git"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_git_is_served_where_github_serves_it(api: str, git: str) -> None:
    assert git_url_for(api) == git
