"""GitHub's JSON to our frozen models, reading only keys GitHub documents and tolerating nulls.

We convert JSON rather than read PyGithub's properties: on a listed object any property
whose key is absent makes PyGithub fetch the object again, a hidden call to a route that
may not exist (deployment statuses have no single-status GET in our subset).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from guard.github.models import (
    ChangedFile,
    CheckRunRef,
    CommentRef,
    CommitInfo,
    ComparedCommit,
    DeploymentRef,
    DeploymentStatusInfo,
    IssueRef,
    PullRef,
)

Json = Mapping[str, Any]
_EPOCH = datetime.fromtimestamp(0, UTC)


def as_time(value: object) -> datetime:
    """An ISO timestamp (or datetime) as an aware datetime; the epoch when unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _EPOCH
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _EPOCH


def _text(data: Json, key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _optional(data: Json, key: str) -> str | None:
    value = data.get(key)
    return str(value) if value else None


def _login(account: object) -> str | None:
    return _optional(account, "login") if isinstance(account, Mapping) else None


def _nested(data: Json, *keys: str) -> Json:
    current: Any = data
    for key in keys:
        current = current.get(key) if isinstance(current, Mapping) else None
    return current if isinstance(current, Mapping) else {}


def _payload(value: object) -> Mapping[str, Any]:
    # A payload sent as a JSON string comes back as one; ours are always objects.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _app_id(app: object) -> int | None:
    value = app.get("id") if isinstance(app, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def deployment(data: Json) -> DeploymentRef:
    return DeploymentRef(
        id=int(data["id"]),
        sha=_text(data, "sha"),
        ref=_text(data, "ref"),
        environment=_text(data, "environment"),
        created_at=as_time(data.get("created_at")),
        task=_text(data, "task") or "deploy",
        description=_text(data, "description"),
        creator_login=_login(data.get("creator")),
        payload=_payload(data.get("payload")),
        app_id=_app_id(data.get("performed_via_github_app")),
    )


def deployment_status(data: Json) -> DeploymentStatusInfo:
    return DeploymentStatusInfo(
        id=int(data["id"]),
        state=_text(data, "state"),
        created_at=as_time(data.get("created_at")),
        description=_text(data, "description"),
        environment=_text(data, "environment"),
        log_url=_optional(data, "log_url") or _optional(data, "target_url"),
        environment_url=_optional(data, "environment_url"),
    )


def commit(data: Json) -> CommitInfo:
    """From `GET /repos/{o}/{r}/commits/{ref}`: git data under `commit`, the account beside it."""
    git = _nested(data, "commit")
    author = _nested(git, "author")
    return CommitInfo(
        sha=_text(data, "sha"),
        tree_sha=_text(_nested(git, "tree"), "sha"),
        parents=tuple(_text(p, "sha") for p in data.get("parents") or () if isinstance(p, Mapping)),
        message=_text(git, "message"),
        author_name=_text(author, "name"),
        author_email=_text(author, "email"),
        author_login=_login(data.get("author")),
    )


def compared_commit(data: Json) -> ComparedCommit:
    return ComparedCommit(
        sha=_text(data, "sha"),
        message=_text(_nested(data, "commit"), "message"),
        author_login=_login(data.get("author")),
    )


def changed_file(data: Json) -> ChangedFile:
    return ChangedFile(
        filename=_text(data, "filename"),
        status=_text(data, "status"),
        previous_filename=_optional(data, "previous_filename"),
    )


def pull(data: Json) -> PullRef:
    return PullRef(
        number=int(data["number"]),
        html_url=_text(data, "html_url"),
        head=_text(_nested(data, "head"), "ref"),
        base=_text(_nested(data, "base"), "ref"),
        state=_text(data, "state") or "open",
        merged=data.get("merged_at") is not None,
        # Before a merge GitHub puts its test merge here: only a merged pull's counts.
        merge_commit_sha=_optional(data, "merge_commit_sha") if data.get("merged_at") else None,
        head_sha=_optional(_nested(data, "head"), "sha"),
    )


def issue(data: Json) -> IssueRef:
    return IssueRef(
        number=int(data["number"]),
        title=_text(data, "title"),
        state=_text(data, "state"),
        html_url=_text(data, "html_url"),
        labels={
            str(label["name"]): str(label.get("color") or "")
            for label in data.get("labels") or ()
            # GitHub may list a label as its bare name.
            if isinstance(label, Mapping) and label.get("name")
        },
    )


def comment(data: Json) -> CommentRef:
    return CommentRef(id=int(data["id"]), html_url=_text(data, "html_url"))


def check_run(data: Json) -> CheckRunRef:
    return CheckRunRef(id=int(data["id"]), html_url=_optional(data, "html_url"))
