"""A revert built from git data over the API, and what branch protection says about it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.github.client import GitHubClient
from guard.github.errors import RefUpdateRefused, RefusedError
from tests.github_world import REPO, World, sandbox_world


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def same_tree(git_dir: Path, left: str, right: str) -> bool:
    """`git diff --quiet` in the sandbox's bare repository: exit 0 means no difference."""
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "diff", "--quiet", left, right], check=False
    )
    assert done.returncode in (0, 1), done
    return done.returncode == 0


def revert_commit(client: GitHubClient, bad: str) -> str:
    """git's own revert of a branch tip: the parent's tree on top of the bad commit."""
    commit = client.get_commit(REPO, bad)
    parent = client.get_commit(REPO, commit.parents[0])
    message = f'Revert "{commit.subject}"\n\nThis reverts commit {bad}.'
    return client.create_commit(REPO, message, parent.tree_sha, [bad])


def test_a_bad_tip_is_reverted_and_the_tree_is_the_good_one_again(world: World) -> None:
    client = world.client()
    good = client.get_branch_head(REPO, "main")
    bad = world.sandbox.commit(REPO, {"app/server.py": "raise SystemExit(1)\n"}, "Break checkout")

    revert = revert_commit(client, bad)
    client.update_branch(REPO, "main", revert)

    git_dir = world.sandbox.git_dir(REPO)
    assert client.get_branch_head(REPO, "main") == revert
    assert same_tree(git_dir, good, revert)
    assert not same_tree(git_dir, bad, revert)
    reverted = client.get_commit(REPO, revert)
    assert reverted.parents == (bad,)
    assert reverted.message == f'Revert "Break checkout"\n\nThis reverts commit {bad}.'
    assert client.get_file(REPO, "app/server.py", "main") == b"print('v1')\n"


def test_a_protected_branch_refuses_and_the_revert_goes_through_a_pull(world: World) -> None:
    client = world.client()
    bad = world.sandbox.commit(REPO, {"app/server.py": "raise SystemExit(1)\n"}, "Break checkout")
    world.sandbox.protect_branch(REPO, "main")
    revert = revert_commit(client, bad)

    with pytest.raises(RefUpdateRefused) as refused:
        client.update_branch(REPO, "main", revert)
    assert refused.value.branch == "main"
    assert "Changes must be made through a pull request." in refused.value.reason
    assert refused.value.status == 422
    assert client.get_branch_head(REPO, "main") == bad

    branch = client.create_branch(REPO, f"revert-{bad[:12]}", revert)
    again = client.create_branch(REPO, f"revert-{bad[:12]}", revert)
    assert (branch.created, again.created, again.sha) == (True, False, revert)
    pull = client.create_pull(
        REPO, branch.name, "main", 'Revert "Break checkout"', "Deployment 41 failed."
    )
    stored = world.sandbox.runtime.state.pulls[f"{REPO}#{pull.number}"]
    assert (stored.head_ref, stored.base_ref, stored.head_sha) == (branch.name, "main", revert)
    assert (pull.head, pull.base, pull.state) == (branch.name, "main", "open")


def test_a_second_pull_for_the_same_branch_is_the_first_one(world: World) -> None:
    client = world.client()
    bad = world.sandbox.commit(REPO, {"app/server.py": "raise SystemExit(1)\n"}, "Break checkout")
    client.create_branch(REPO, "revert-x", revert_commit(client, bad))
    first = client.create_pull(REPO, "revert-x", "main", "Revert", "body")
    assert client.find_open_pull(REPO, "revert-x", "main") == first
    assert client.create_pull(REPO, "revert-x", "main", "Revert", "body") == first


def test_required_checks_refuse_with_githubs_words(world: World) -> None:
    client = world.client()
    bad = world.sandbox.commit(REPO, {"app/server.py": "raise SystemExit(1)\n"}, "Break checkout")
    world.sandbox.protect_branch(
        REPO, "main", required_status_checks=["ci/test"], require_pull_request=False
    )
    with pytest.raises(RefUpdateRefused, match="1 of 1 required status checks are expected"):
        client.update_branch(REPO, "main", revert_commit(client, bad))


def test_only_fast_forwards_are_made(world: World) -> None:
    client = world.client()
    good = client.get_branch_head(REPO, "main")
    bad = world.sandbox.commit(REPO, {"app/server.py": "raise SystemExit(1)\n"}, "Break checkout")
    with pytest.raises(RefUpdateRefused, match="not a fast forward"):
        client.update_branch(REPO, "main", good)
    assert client.get_branch_head(REPO, "main") == bad
    patches = world.sandbox.calls.matching("PATCH", f"/repos/{REPO}/git/refs/heads/main")
    assert len(patches) == 1


def test_a_pull_with_nothing_to_merge_is_refused_in_githubs_words(world: World) -> None:
    client = world.client()
    client.create_branch(REPO, "empty", client.get_branch_head(REPO, "main"))
    with pytest.raises(RefusedError, match="No commits between main and empty"):
        client.create_pull(REPO, "empty", "main", "Nothing", "body")
