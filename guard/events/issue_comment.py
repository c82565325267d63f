"""`issue_comment` events: a comment on an issue or pull request, read for `/guard` commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from guard.events.common import Account, PayloadModel, Repository, WebhookEvent


class Label(PayloadModel):
    """A label on the issue; incident issues carry the policy's labels."""

    name: str


class Issue(PayloadModel):
    """The issue (or pull request) the comment is on."""

    number: int
    title: str
    state: str
    html_url: str
    user: Account | None = None
    # Present (with links) only when the "issue" is a pull request.
    pull_request: dict[str, Any] | None = None
    labels: tuple[Label, ...] = ()

    @property
    def is_pull_request(self) -> bool:
        return self.pull_request is not None


class Comment(PayloadModel):
    """The comment: who wrote what."""

    id: int
    body: str = ""
    user: Account
    # OWNER, MEMBER, COLLABORATOR, ... : a hint only; commands check the real permission.
    author_association: str | None = None
    html_url: str
    created_at: datetime


class IssueCommentCreated(WebhookEvent):
    """`issue_comment` / `created`."""

    event_name = "issue_comment"

    action: Literal["created"]
    issue: Issue
    comment: Comment
    repository: Repository
    sender: Account
