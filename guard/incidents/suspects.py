"""The suspect commits: what changed between the last good and the bad deployment, and by whom."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from guard.github.errors import GitHubError
from guard.github.models import Comparison
from guard.github.port import GitHubPort
from guard.incidents.context import SuspectCommit
from guard.observability.logs import get_logger

log = get_logger(__name__)

# GitHub's merge commit subject, and the "(#123)" a squash merge appends to the PR title.
_MERGE = re.compile(r"^Merge pull request #(\d+) from \S+")
_SQUASH = re.compile(r"\(#(\d+)\)\s*$")
# Names are looked up one commit at a time (the comparison lacks them): at most this many.
NAME_LOOKUPS = 20
# GitHub's comparison lists at most 250 commits.
COMPARE_COMMIT_LIMIT = 250


def pull_number(message: str) -> int | None:
    """The pull request a commit message names: a merge of it, or a squash ending "(#123)"."""
    subject = message.split("\n", 1)[0].strip()
    found = _MERGE.match(subject) or _SQUASH.search(subject)
    return int(found.group(1)) if found else None


def web_url_for_api(api_url: str) -> str:
    """Where people browse a GitHub whose REST API is at `api_url`.

    api.github.com -> github.com; GHES https://HOST/api/v3 -> https://HOST; anything else
    (the sandbox) serves both from one root.
    """
    parts = urlsplit(api_url.rstrip("/"))
    host = parts.netloc
    if host == "api.github.com":
        return f"{parts.scheme}://github.com"
    if host.startswith("api.") and host.endswith(".ghe.com"):
        return f"{parts.scheme}://{host[len('api.') :]}"
    path = parts.path.removesuffix("/api/v3")
    return f"{parts.scheme}://{host}{path}"


@dataclass(frozen=True)
class SuspectRange:
    """The commits between the two deployments and the paths they touched."""

    commits: tuple[SuspectCommit, ...]
    changed_paths: tuple[str, ...]
    compare_url: str | None
    # More commits than the comparison lists.
    incomplete: bool


def suspects_from_comparison(
    comparison: Comparison, repository_url: str, names: dict[str, str] | None = None
) -> SuspectRange:
    """The comparison's commits (oldest first, as GitHub lists them) as suspects."""
    commits = tuple(
        SuspectCommit(
            sha=commit.sha,
            subject=commit.message.split("\n", 1)[0].strip(),
            author_login=commit.author_login,
            author_name=(names or {}).get(commit.sha),
            pull_number=(number := pull_number(commit.message)),
            pull_url=f"{repository_url}/pull/{number}" if number else None,
            url=f"{repository_url}/commit/{commit.sha}",
        )
        for commit in comparison.commits
    )
    paths: list[str] = []
    for changed in comparison.files:
        for path in (changed.previous_filename, changed.filename):
            if path and path not in paths:
                paths.append(path)
    incomplete = comparison.ahead_by > len(comparison.commits)
    return SuspectRange(commits, tuple(paths), None, incomplete)


def gather_suspects(
    port: GitHubPort, repository: str, good_sha: str | None, bad_sha: str, web_url: str
) -> SuspectRange:
    """Compare the last good with the bad SHA; without a good one, the deployed commit alone.

    GitHub failures leave the list empty (marked incomplete) rather than stop the incident.
    """
    repository_url = f"{web_url.rstrip('/')}/{repository}"
    try:
        base = good_sha
        if base is None:
            parents = port.get_commit(repository, bad_sha).parents
            if not parents:
                return SuspectRange((), (), None, False)
            base = parents[0]
        comparison = port.compare(repository, base, bad_sha)
        names = _author_names(port, repository, comparison)
    except GitHubError as error:
        log.warning("incident.suspects_unavailable", repository=repository, error=str(error))
        return SuspectRange((), (), None, True)
    found = suspects_from_comparison(comparison, repository_url, names)
    compare_url = f"{repository_url}/compare/{base}...{bad_sha}" if good_sha else None
    return SuspectRange(found.commits, found.changed_paths, compare_url, found.incomplete)


def _author_names(port: GitHubPort, repository: str, comparison: Comparison) -> dict[str, str]:
    # The comparison gives only the account; a commit with none is named by its git author.
    names: dict[str, str] = {}
    for commit in [c for c in comparison.commits if c.author_login is None][:NAME_LOOKUPS]:
        info = port.get_commit(repository, commit.sha)
        if info.author_name:
            names[commit.sha] = info.author_name
    return names
