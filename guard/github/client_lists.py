"""Reading back what was posted before: an issue's comments and a commit's check runs.

`ListOperations` is mixed into `GitHubClient`; `list_port(client)` stays for callers that
hold any client. Both lists exist so a retry can find its own earlier write (a comment
carrying a marker, a check run with its external id) instead of posting a second one.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from guard.github import convert
from guard.github.client_base import ClientBase
from guard.github.models import CheckRunInfo, IssueComment

__all__ = [
    "CheckRunInfo",
    "IssueComment",
    "ListOperations",
    "ListPort",
    "list_port",
    "read_check_runs",
    "read_issue_comments",
]


class ListPort(Protocol):
    """The two lists, for code that needs only them."""

    def list_issue_comments(self, repo: str, number: int) -> list[IssueComment]:
        """Every comment on issue (or pull request) `number`, oldest first."""
        ...

    def list_check_runs_for_ref(
        self, repo: str, ref: str, name: str | None = None, *, every: bool = False
    ) -> list[CheckRunInfo]:
        """The newest check run of each name on `ref` (a SHA, branch or tag), newest first;
        with `every`, all of them (GitHub's `filter=all`)."""
        ...


def _comment(data: dict[str, Any]) -> IssueComment:
    author = data.get("user")
    return IssueComment(
        id=int(data["id"]),
        body=str(data.get("body") or ""),
        author_login=str(author["login"]) if isinstance(author, dict) else None,
        created_at=convert.as_time(data.get("created_at")),
        html_url=str(data.get("html_url") or ""),
    )


def _check_run(data: dict[str, Any]) -> CheckRunInfo:
    app = data.get("app")
    return CheckRunInfo(
        id=int(data["id"]),
        name=str(data.get("name") or ""),
        status=str(data.get("status") or ""),
        conclusion=data.get("conclusion"),
        head_sha=str(data.get("head_sha") or ""),
        app_slug=str(app["slug"]) if isinstance(app, dict) and app.get("slug") else None,
        html_url=data.get("html_url"),
        external_id=str(data["external_id"]) if data.get("external_id") else None,
    )


def read_issue_comments(client: ClientBase, repo: str, number: int) -> list[IssueComment]:
    """GET /repos/{o}/{r}/issues/{n}/comments, every page; GitHub orders them by id."""
    url = f"{client._repo(repo).url}/issues/{number}/comments"

    def call() -> list[IssueComment]:
        return sorted((_comment(c) for c in client._list(url)), key=lambda c: c.id)

    return client._idempotent(f"list comments of #{number} in {repo}", call)


def read_check_runs(
    client: ClientBase, repo: str, ref: str, name: str | None = None, *, every: bool = False
) -> list[CheckRunInfo]:
    """GET /repos/{o}/{r}/commits/{ref}/check-runs (filter=latest, or all), every page."""
    url = f"{client._repo(repo).url}/commits/{quote(ref)}/check-runs"
    params = {"check_name": name} if name else {}
    if every:
        # Without it GitHub lists only the newest run of each name: a retry's own run could
        # hide behind a later attempt's.
        params["filter"] = "all"

    def call() -> list[CheckRunInfo]:
        runs = [_check_run(r) for r in client._list(url, params, list_item="check_runs")]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    return client._idempotent(f"list check runs of {ref} in {repo}", call)


class ListOperations(ClientBase):
    """The two lists as client methods, for mixing into `GitHubClient`."""

    def list_issue_comments(self, repo: str, number: int) -> list[IssueComment]:
        return read_issue_comments(self, repo, number)

    def list_check_runs_for_ref(
        self, repo: str, ref: str, name: str | None = None, *, every: bool = False
    ) -> list[CheckRunInfo]:
        return read_check_runs(self, repo, ref, name, every=every)


class _SameClient:
    def __init__(self, client: ClientBase) -> None:
        self._client = client

    def list_issue_comments(self, repo: str, number: int) -> list[IssueComment]:
        return read_issue_comments(self._client, repo, number)

    def list_check_runs_for_ref(
        self, repo: str, ref: str, name: str | None = None, *, every: bool = False
    ) -> list[CheckRunInfo]:
        return read_check_runs(self._client, repo, ref, name, every=every)


def list_port(client: ClientBase) -> ListPort:
    """`client` itself when it mixes in ListOperations (GitHubClient does); else an adapter."""
    if isinstance(client, ListOperations):
        return client
    return _SameClient(client)
