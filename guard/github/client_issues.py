"""Issues, comments and labels: filing an incident exactly once, even across retries."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from guard.github import convert
from guard.github.client_base import ClientBase
from guard.github.errors import RefusedError
from guard.github.models import CommentRef, IssueRef


class IssueOperations(ClientBase):
    """The issue half of the port."""

    def find_issue_with_marker(
        self, repo: str, marker: str, labels: Sequence[str]
    ) -> IssueRef | None:
        """The oldest open or closed issue with `labels` whose body holds `marker`.

        This is how a retry finds what an earlier attempt filed: the marker is an HTML
        comment, invisible on the page, that names the deployment the incident is about.
        """
        if not marker:
            raise ValueError("an empty marker would match every issue")

        url = f"{self._repo(repo).url}/issues"
        params: dict[str, Any] = {"state": "all"}
        if labels:
            params["labels"] = ",".join(labels)

        def call() -> IssueRef | None:
            found: dict[str, Any] | None = None
            for issue in self._list(url, params):
                # The issues list also returns pull requests; they are never ours.
                if issue.get("pull_request") is not None:
                    continue
                if marker in (issue.get("body") or "") and (
                    found is None or int(issue["number"]) < int(found["number"])
                ):
                    found = issue
            return convert.issue(found) if found is not None else None

        return self._idempotent(f"look for an issue with marker in {repo}", call)

    def create_issue(
        self,
        repo: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
        *,
        marker: str | None = None,
    ) -> IssueRef:
        """File an issue. Without a `marker` in the body, an ambiguous failure is not retried."""
        if marker is not None and marker not in body:
            raise ValueError("the marker must appear in the issue body to be found again")

        def call() -> IssueRef:
            issue = self._repo(repo).create_issue(
                title, body=body, labels=list(labels), assignees=list(assignees)
            )
            return convert.issue(issue.raw_data)

        if marker is None:
            return self._create(f"file issue in {repo}", call)
        key = marker
        return self._create(
            f"file issue in {repo}",
            call,
            recover=lambda: self.find_issue_with_marker(repo, key, labels),
        )

    def comment_on_issue(self, repo: str, number: int, body: str) -> CommentRef:
        """Comment on an issue or pull request.

        No lookup route for comments is in our API subset, so an ambiguous failure raises
        AmbiguousWriteError rather than risking a second comment.
        """

        def call() -> CommentRef:
            comment = self._repo(repo).get_issue(number).create_comment(body)
            return convert.comment(comment.raw_data)

        return self._create(f"comment on #{number} in {repo}", call)

    def swap_issue_label(
        self,
        repo: str,
        number: int,
        prefix: str,
        label: str,
        *,
        retitle: Callable[[str], str] | None = None,
    ) -> tuple[str, ...]:
        """Give issue `number` the label `label` in place of those starting with `prefix`, and
        the title `retitle` makes of its title.

        The issue's other labels stay. Its labels and title are read, then set with one PATCH
        (both in the API subset), or none when nothing changes; setting the same labels and
        title twice leaves the same issue, so a lost answer is retried. Returns the issue's
        labels afterwards.
        """
        url = f"{self._repo(repo).url}/issues/{number}"
        what = f"relabel issue #{number} in {repo}"
        data = self._idempotent(what, lambda: self._api("GET", url))
        current = [str(item["name"]) for item in data.get("labels") or () if item.get("name")]
        wanted = [
            name
            for name in current
            # GitHub's label names are case-insensitive.
            if not name.lower().startswith(prefix.lower()) or name.lower() == label.lower()
        ]
        if label.lower() not in {name.lower() for name in wanted}:
            wanted.append(label)
        body: dict[str, Any] = {}
        if wanted != current:
            body["labels"] = wanted
        title = str(data.get("title") or "")
        if retitle is not None and retitle(title) != title:
            body["title"] = retitle(title)
        if not body:
            return tuple(current)
        updated = self._idempotent(what, lambda: self._api("PATCH", url, body))
        return tuple(str(item["name"]) for item in updated.get("labels") or ())

    def ensure_labels(self, repo: str, labels: Mapping[str, str]) -> None:
        """Create missing labels (name -> colour like "d73a4a"); existing ones are left alone."""
        for name, colour in labels.items():
            self._ensure_label(repo, name, colour.lstrip("#"))

    def _ensure_label(self, repo: str, name: str, colour: str) -> None:
        try:
            # Creating twice is answered 422 already_exists, so a lost answer may be retried.
            self._idempotent(
                f"create label {name!r} in {repo}",
                lambda: self._repo(repo).create_label(name, colour),
            )
        except RefusedError as refused:
            if refused.status != 422 or "already" not in refused.message.lower():
                raise

    def colour_labels(self, repo: str, colours: Mapping[str, str]) -> None:
        """Give existing labels (name -> colour like "d73a4a") these colours; the same PATCH
        twice leaves the same label, so a lost answer is retried."""
        for name, colour in colours.items():
            self._colour_label(repo, name, colour.lstrip("#"))

    def _colour_label(self, repo: str, name: str, colour: str) -> None:
        url = f"{self._repo(repo).url}/labels/{quote(name, safe='')}"
        body = {"color": colour}
        self._idempotent(f"colour label {name!r} in {repo}", lambda: self._api("PATCH", url, body))
