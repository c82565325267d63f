"""Which policy governs a deployment: read at the deployed commit, or pinned to the default branch.

The default branch's policy is read first, because only it may say `policy_ref:
default_branch`: a deployed commit cannot switch its own guard off by editing its copy.
Every policy is read at a commit SHA, so a verification keeps the rules it started with.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import yaml

from guard.github.port import GitHubPort
from guard.policy.errors import PolicyError
from guard.policy.loader import load_policy
from guard.policy.models import Policy

POLICY_PATH = ".github/deploy-guard.yml"
PolicyRef = Literal["deployed", "default_branch"]
# Valid policies by (repository, commit) kept per process: a verification re-reads its own
# every round, and deployments of one commit share it.
CACHE_SIZE = 128


@dataclass(frozen=True)
class PolicyFound:
    """A valid policy, where it was read (`ref`) and at which commit."""

    policy: Policy
    ref: PolicyRef
    sha: str
    branch: str


@dataclass(frozen=True)
class PolicyInvalid:
    """A policy that cannot be used, with every problem by line."""

    error: PolicyError
    ref: PolicyRef
    sha: str


@dataclass(frozen=True)
class PolicyMissing:
    """No policy file where the guard looked: the repository does not use the guard there."""

    sha: str


PolicyOutcome = PolicyFound | PolicyInvalid | PolicyMissing


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _asks_for_default_branch(text: str) -> bool:
    """Whether a policy that failed to load still says `policy_ref: default_branch`.

    An invalid default-branch policy that meant to govern every deployment must not hand
    control to the deployed copy; its own errors are the answer then.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(document, dict) and document.get("policy_ref") == "default_branch"


def read_policy(github: GitHubPort, repo: str, deployed_sha: str) -> PolicyOutcome:
    """The policy that governs a deployment of `deployed_sha` to `repo`.

    The branch and its head are asked each time (a branch moves); a valid policy already
    read at a commit is not (a commit never changes): the process's cache answers for it.
    """
    branch = github.default_branch(repo)
    head = github.get_branch_head(repo, branch)
    at_head: bytes | None = None
    governing = _PINNED.get(repo, head)
    if governing is None:
        at_head = github.get_file(repo, POLICY_PATH, head)
    if at_head is not None:
        text = _decode(at_head)
        try:
            governing = load_policy(text, POLICY_PATH)
        except PolicyError as error:
            if _asks_for_default_branch(text):
                return PolicyInvalid(error, "default_branch", head)
        else:
            remember(repo, head, governing)
    if governing is not None and governing.policy_ref == "default_branch":
        return PolicyFound(governing, "default_branch", head, branch)
    if deployed_sha == head and governing is not None:
        return PolicyFound(governing, "deployed", deployed_sha, branch)
    cached = _PINNED.get(repo, deployed_sha)
    if cached is not None:
        return PolicyFound(cached, "deployed", deployed_sha, branch)
    deployed = at_head if deployed_sha == head else github.get_file(repo, POLICY_PATH, deployed_sha)
    if deployed is None:
        return PolicyMissing(deployed_sha)
    try:
        policy = load_policy(_decode(deployed), POLICY_PATH)
    except PolicyError as error:
        return PolicyInvalid(error, "deployed", deployed_sha)
    remember(repo, deployed_sha, policy)
    return PolicyFound(policy, "deployed", deployed_sha, branch)


class _PinnedPolicies:
    """Policies by (repository, commit): a commit never changes, so neither does its policy."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], Policy] = OrderedDict()

    def get(self, repo: str, sha: str) -> Policy | None:
        with self._lock:
            policy = self._items.get((repo, sha))
            if policy is not None:
                self._items.move_to_end((repo, sha))
            return policy

    def put(self, repo: str, sha: str, policy: Policy) -> None:
        with self._lock:
            self._items[(repo, sha)] = policy
            self._items.move_to_end((repo, sha))
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_PINNED = _PinnedPolicies(CACHE_SIZE)


def remember(repo: str, sha: str, policy: Policy) -> None:
    _PINNED.put(repo, sha, policy)


class PinnedPolicyGone(RuntimeError):  # noqa: N818 - reads as what happened
    """The policy a verification started with can no longer be read at its commit."""


def cached_policy(repo: str, sha: str) -> Policy | None:
    """The policy pinned at `repo`@`sha` if this process has it, without asking GitHub."""
    return _PINNED.get(repo, sha)


def pinned_policy(github: GitHubPort, repo: str, sha: str) -> Policy:
    """The policy a verification was started with, read again at its commit when not cached."""
    cached = _PINNED.get(repo, sha)
    if cached is not None:
        return cached
    data = github.get_file(repo, POLICY_PATH, sha)
    if data is None:
        raise PinnedPolicyGone(f"{POLICY_PATH} is gone from {repo} at {sha[:7]}")
    try:
        policy = load_policy(_decode(data), POLICY_PATH)
    except PolicyError as error:
        raise PinnedPolicyGone(f"{POLICY_PATH} in {repo} at {sha[:7]}: {error}") from None
    remember(repo, sha, policy)
    return policy
