"""Reading the governing policy: which GitHub calls a start makes, and what the caches save.

The guard reads the policy of real commits in the sandbox over HTTP; the calls are counted
at the sandbox's call log. A valid policy read at a commit is not read again (a commit
never changes); the branch and its head are asked every time (a branch moves).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from guard.jobs.policy_source import (
    POLICY_PATH,
    PolicyFound,
    PolicyInvalid,
    PolicyMissing,
    read_policy,
)
from guard.policy import loader
from tests.github_world import DEVELOPER, World, sandbox_world

POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
        expect:
          status: 200
"""
PINNED = POLICY.replace("version: 1\n", "version: 1\npolicy_ref: default_branch\n")


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def fresh_repo(world: World, files: dict[str, str]) -> str:
    """A repository of its own per test: the process's policy cache is keyed by repository."""
    name = f"acme/shop-{uuid.uuid4().hex[:8]}"
    world.sandbox.create_repo(name, files, author=DEVELOPER)
    return name


def contents_reads(world: World, since: int) -> int:
    return len(world.sandbox.calls.matching("GET", "/repos/*/contents/*", since))


def test_a_second_start_at_the_same_commit_reads_no_policy_file(world: World) -> None:
    repo = fresh_repo(world, {POLICY_PATH: POLICY})
    github = world.client()
    head = world.sandbox.branch_sha(repo)
    assert head is not None
    first = read_policy(github, repo, head)
    mark = world.sandbox.calls.last_seq
    second = read_policy(github, repo, head)
    assert isinstance(first, PolicyFound)
    assert isinstance(second, PolicyFound)
    assert (second.ref, second.sha, second.branch) == ("deployed", head, "main")
    assert second.policy is first.policy
    # Only the branch and its head: the repository, then its ref.
    assert contents_reads(world, mark) == 0
    assert len(world.sandbox.calls.all(since=mark)) == 2


def test_a_moved_branch_is_seen_and_its_new_policy_read(world: World) -> None:
    repo = fresh_repo(world, {POLICY_PATH: POLICY})
    github = world.client()
    old_head = world.sandbox.branch_sha(repo)
    assert old_head is not None
    assert isinstance(read_policy(github, repo, old_head), PolicyFound)
    # The default branch now pins every deployment to its own policy.
    new_head = world.sandbox.commit(repo, {POLICY_PATH: PINNED}, author=DEVELOPER)
    mark = world.sandbox.calls.last_seq
    outcome = read_policy(github, repo, old_head)
    assert isinstance(outcome, PolicyFound)
    assert (outcome.ref, outcome.sha) == ("default_branch", new_head)
    assert contents_reads(world, mark) == 1


def test_a_deployed_commit_behind_the_head_is_read_at_its_own_commit_once(world: World) -> None:
    repo = fresh_repo(world, {POLICY_PATH: POLICY})
    github = world.client()
    deployed = world.sandbox.branch_sha(repo)
    assert deployed is not None
    world.sandbox.commit(repo, {POLICY_PATH: POLICY + "# a comment\n"}, author=DEVELOPER)
    first = read_policy(github, repo, deployed)
    assert isinstance(first, PolicyFound)
    assert (first.ref, first.sha) == ("deployed", deployed)
    mark = world.sandbox.calls.last_seq
    again = read_policy(github, repo, deployed)
    assert isinstance(again, PolicyFound)
    assert again.sha == deployed
    assert contents_reads(world, mark) == 0


def test_missing_and_invalid_policies_are_read_again_each_time(world: World) -> None:
    repo = fresh_repo(world, {"README.md": "# shop\n"})
    github = world.client()
    head = world.sandbox.branch_sha(repo)
    assert head is not None
    assert isinstance(read_policy(github, repo, head), PolicyMissing)
    # Nothing remembered about a missing file: once added, the policy is found.
    fixed = world.sandbox.commit(repo, {POLICY_PATH: "version: 2\n"}, author=DEVELOPER)
    first = read_policy(github, repo, fixed)
    assert isinstance(first, PolicyInvalid)
    mark = world.sandbox.calls.last_seq
    second = read_policy(github, repo, fixed)
    assert isinstance(second, PolicyInvalid)
    assert second.error.render() == first.error.render()
    assert contents_reads(world, mark) == 1


def test_the_same_policy_text_is_parsed_once_per_process() -> None:
    text = POLICY.replace("home page", f"home page {uuid.uuid4().hex}")
    first = loader.load_policy(text, POLICY_PATH)
    assert loader.load_policy(text, POLICY_PATH) is first
    # The file name is in the errors a text may raise, so it is part of the key.
    assert loader.load_policy(text, "other.yml") is not first
    assert loader.load_policy(text, "other.yml") == first


def test_an_invalid_text_raises_its_errors_every_time() -> None:
    for _ in range(2):
        with pytest.raises(loader.PolicyError) as raised:
            loader.load_policy("version: 2\n", POLICY_PATH)
        assert "version" in raised.value.render()


def test_the_parsed_cache_drops_the_least_recently_used() -> None:
    parsed = loader._ParsedPolicies(2)
    policy = loader.load_policy(POLICY, POLICY_PATH)
    keys = [loader._ParsedPolicies.key(f"{POLICY}# {n}\n", POLICY_PATH) for n in range(3)]
    parsed.put(keys[0], policy)
    parsed.put(keys[1], policy)
    assert parsed.get(keys[0]) is policy  # now the most recently used
    parsed.put(keys[2], policy)
    assert parsed.get(keys[1]) is None
    assert parsed.get(keys[0]) is policy
    assert parsed.get(keys[2]) is policy
