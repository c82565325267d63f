"""Issues, issue comments, labels and pull requests (which are issues with two branches)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.access import has_push_access
from guard.sandbox.errors import ApiError, not_found, validation_failed
from guard.sandbox.models import CommentRecord, IssueRecord, LabelRecord, PullRecord, RepoRecord
from guard.sandbox.pagination import paginate
from guard.sandbox.payloads_core import repository_json, user_json
from guard.sandbox.payloads_work import comment_json, issue_json, label_json, pull_json
from guard.sandbox.repo_ops import HEADS
from guard.sandbox.runtime import (
    acting_user,
    association,
    caller,
    current,
    json_body,
    links,
    repo_for,
    respond,
)
from guard.sandbox.state import branch_key, issue_key, utc_now

blueprint = Blueprint("sandbox_issues", __name__)

# GitHub's cap on issue and comment bodies (github-facts.md section 7).
MAX_BODY = 65536
# A label colour: six hex digits, without the "#".
_COLOUR = re.compile(r"[0-9a-fA-F]{6}")


def _check_body(resource: str, text: Any) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise validation_failed(resource, "body")
    if len(text) > MAX_BODY:
        raise validation_failed(
            resource, "body", "custom", f"body is too long (maximum is {MAX_BODY} characters)"
        )
    return text


def _label(repo: RepoRecord, raw: Any, *, create: bool) -> LabelRecord | None:
    name = raw.get("name") if isinstance(raw, dict) else raw
    if not isinstance(name, str) or not name:
        raise validation_failed("Label", "name", "invalid")
    state = current().state
    key = branch_key(repo.full_name, name.lower())
    label = state.labels.get(key)
    if label is None and create:
        # Passing an unknown label on issue create makes GitHub create it.
        label = LabelRecord(state.next_id("label"), repo.full_name, name)
        state.labels[key] = label
    return label


def _assignees(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise validation_failed("Issue", "assignees")
    logins = []
    for login in raw:
        user = current().state.user(str(login))
        if user is None:
            raise validation_failed("Issue", "assignees", "invalid")
        logins.append(user.login)
    return logins


def issue_payload(repo: RepoRecord, issue: IssueRecord) -> dict[str, Any]:
    state = current().state
    labels = [
        label
        for name in issue.labels
        if (label := state.labels.get(branch_key(repo.full_name, name.lower()))) is not None
    ]
    assignees = [state.ensure_user(login) for login in issue.assignees]
    author = state.ensure_user(issue.user)
    return issue_json(
        links(),
        issue,
        author=author,
        assignees=assignees,
        labels=labels,
        association=association(repo, issue.user),
    )


def _new_number(repo: RepoRecord) -> int:
    number = repo.next_number
    repo.next_number += 1
    return number


@blueprint.post("/repos/<owner>/<name>/issues")
def create_issue(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "issues", write=True)
    state = current().state
    body = json_body()
    title = body.get("title")
    if isinstance(title, int):
        title = str(title)
    if not isinstance(title, str) or not title:
        raise validation_failed("Issue", "title", "missing_field")
    text = _check_body("Issue", body.get("body"))
    labels: list[str] = []
    assignees: list[str] = []
    # Labels and assignees from callers without push access are dropped silently.
    if has_push_access(caller(), repo, state):
        for raw in body.get("labels") or []:
            label = _label(repo, raw, create=True)
            if label is not None and label.name not in labels:
                labels.append(label.name)
        wanted = body.get("assignees") or ([body["assignee"]] if body.get("assignee") else [])
        assignees = _assignees(wanted)
    now = utc_now()
    issue = IssueRecord(
        id=state.next_id("issue"),
        repo=repo.full_name,
        number=_new_number(repo),
        title=title,
        user=acting_user().login,
        created_at=now,
        updated_at=now,
        body=text,
        labels=labels,
        assignees=assignees,
    )
    state.issues[issue_key(repo.full_name, issue.number)] = issue
    payload = issue_payload(repo, issue)
    return respond(payload, 201, {"Location": payload["url"]})


@blueprint.get("/repos/<owner>/<name>/issues")
def list_issues(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "issues")
    wanted_state = request.args.get("state", "open")
    wanted_labels = {
        n.strip().lower() for n in request.args.get("labels", "").split(",") if n.strip()
    }
    found = [
        issue
        for issue in current().state.issues.values()
        if issue.repo == repo.full_name
        and wanted_state in {"all", issue.state}
        and wanted_labels <= {label.lower() for label in issue.labels}
    ]
    found.sort(key=lambda issue: issue.number, reverse=request.args.get("direction") != "asc")
    page, link = paginate(found)
    body = [issue_payload(repo, issue) for issue in page]
    return respond(body, headers={"Link": link} if link else None)


def _issue(repo: RepoRecord, number: int) -> IssueRecord:
    issue = current().state.issues.get(issue_key(repo.full_name, number))
    if issue is None:
        raise not_found()
    return issue


@blueprint.get("/repos/<owner>/<name>/issues/<int:number>")
def get_issue(owner: str, name: str, number: int) -> Response:
    repo = repo_for(owner, name, "issues")
    return respond(issue_payload(repo, _issue(repo, number)))


@blueprint.patch("/repos/<owner>/<name>/issues/<int:number>")
def update_issue(owner: str, name: str, number: int) -> Response:
    repo = repo_for(owner, name, "issues", write=True)
    issue = _issue(repo, number)
    body = json_body()
    if "title" in body:
        if not isinstance(body["title"], str) or not body["title"]:
            raise validation_failed("Issue", "title")
        issue.title = body["title"]
    if "body" in body:
        issue.body = _check_body("Issue", body["body"])
    if "state" in body:
        if body["state"] not in {"open", "closed"}:
            raise validation_failed("Issue", "state")
        if body["state"] != issue.state:
            issue.state = body["state"]
            issue.closed_at = utc_now() if issue.state == "closed" else None
            default_reason = "completed" if issue.state == "closed" else "reopened"
            issue.state_reason = body.get("state_reason") or default_reason
    if has_push_access(caller(), repo, current().state):
        if "labels" in body:
            issue.labels = []
            for raw in body["labels"] or []:
                label = _label(repo, raw, create=True)
                if label is not None and label.name not in issue.labels:
                    issue.labels.append(label.name)
        if "assignees" in body:
            issue.assignees = _assignees(body["assignees"] or [])
    issue.updated_at = utc_now()
    return respond(issue_payload(repo, issue))


@blueprint.post("/repos/<owner>/<name>/issues/<int:number>/comments")
def create_comment(owner: str, name: str, number: int) -> Response:
    repo = repo_for(owner, name, "issues", write=True)
    issue = _issue(repo, number)
    text = _check_body("IssueComment", json_body().get("body"))
    if not text:
        raise validation_failed("IssueComment", "body", "missing_field")
    state = current().state
    now = utc_now()
    author = acting_user()
    comment = CommentRecord(
        state.next_id("issue_comment"), repo.full_name, number, text, author.login, now, now
    )
    state.comments[comment.id] = comment
    issue.comments += 1
    issue.updated_at = now
    payload = comment_json(links(), comment, author, association(repo, author.login))
    return respond(payload, 201, {"Location": payload["url"]})


@blueprint.post("/repos/<owner>/<name>/labels")
def create_label(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "issues", write=True)
    state = current().state
    body = json_body()
    label_name = body.get("name")
    if not isinstance(label_name, str) or not label_name:
        raise validation_failed("Label", "name", "missing_field")
    key = branch_key(repo.full_name, label_name.lower())
    if key in state.labels:
        raise validation_failed("Label", "name", "already_exists")
    label = LabelRecord(
        state.next_id("label"),
        repo.full_name,
        label_name,
        color=str(body.get("color") or "ededed").lstrip("#"),
        description=body.get("description"),
    )
    state.labels[key] = label
    payload = label_json(links(), label)
    return respond(payload, 201, {"Location": payload["url"]})


@blueprint.patch("/repos/<owner>/<name>/labels/<path:label_name>")
def update_label(owner: str, name: str, label_name: str) -> Response:
    repo = repo_for(owner, name, "issues", write=True)
    state = current().state
    key = branch_key(repo.full_name, label_name.lower())
    label = state.labels.get(key)
    if label is None:
        raise not_found()
    body = json_body()
    new_name = body.get("new_name")
    if new_name is not None:
        if not isinstance(new_name, str) or not new_name:
            raise validation_failed("Label", "name", "invalid")
        new_key = branch_key(repo.full_name, new_name.lower())
        if new_key != key and new_key in state.labels:
            raise validation_failed("Label", "name", "already_exists")
        del state.labels[key]
        label.name = new_name
        state.labels[new_key] = label
    if "color" in body:
        colour = body["color"]
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour.lstrip("#")):
            raise validation_failed("Label", "color", "invalid")
        label.color = colour.lstrip("#").lower()
    if "description" in body:
        label.description = body["description"]
    return respond(label_json(links(), label))


@blueprint.post("/repos/<owner>/<name>/pulls")
def create_pull(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "pull_requests", write=True)
    runtime = current()
    state, git = runtime.state, runtime.git(repo)
    body = json_body()
    head = str(body.get("head") or "").split(":", 1)[-1]
    base = str(body.get("base") or "")
    title = body.get("title")
    if not isinstance(title, str) or not title:
        raise validation_failed("PullRequest", "title", "missing_field")
    head_sha = git.ref_target(HEADS + head) if head else None
    base_sha = git.ref_target(HEADS + base) if base else None
    if head_sha is None:
        raise validation_failed("PullRequest", "head", "invalid")
    if base_sha is None:
        raise validation_failed("PullRequest", "base", "invalid")
    for pull in state.pulls.values():
        existing = state.issues.get(issue_key(pull.repo, pull.number))
        if (
            pull.repo == repo.full_name
            and (pull.head_ref, pull.base_ref) == (head, base)
            and existing is not None
            and existing.state == "open"
        ):
            raise _pull_error(f"A pull request already exists for {repo.owner}:{head}.")
    ahead = git.rev_list(base_sha, head_sha)
    if not ahead:
        raise _pull_error(f"No commits between {base} and {head}")
    now = utc_now()
    number = _new_number(repo)
    issue = IssueRecord(
        id=state.next_id("issue"),
        repo=repo.full_name,
        number=number,
        title=title,
        user=acting_user().login,
        created_at=now,
        updated_at=now,
        body=_check_body("PullRequest", body.get("body")),
        is_pull=True,
    )
    pull = PullRecord(
        id=state.next_id("pull_request"),
        repo=repo.full_name,
        number=number,
        head_ref=head,
        base_ref=base,
        head_sha=head_sha,
        base_sha=base_sha,
        draft=bool(body.get("draft", False)),
        maintainer_can_modify=bool(body.get("maintainer_can_modify", False)),
    )
    state.issues[issue_key(repo.full_name, number)] = issue
    state.pulls[issue_key(repo.full_name, number)] = pull
    merge_base = git.merge_base(base_sha, head_sha)
    files = git.diff(merge_base, head_sha)
    stats = {
        "commits": len(ahead),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "changed_files": len(files),
        "mergeable": git.merge_trees(base_sha, head_sha) is not None,
    }
    payload = pull_json(
        links(),
        pull,
        issue=issue_payload(repo, issue),
        head=_pull_end(repo, head, head_sha),
        base=_pull_end(repo, base, base_sha),
        stats=stats,
    )
    return respond(payload, 201, {"Location": payload["url"]})


def _pull_error(message: str) -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": "PullRequest", "code": "custom", "message": message}],
    )


def _pull_end(repo: RepoRecord, branch: str, sha: str) -> dict[str, Any]:
    owner = current().state.ensure_user(repo.owner)
    return {
        "label": f"{repo.owner}:{branch}",
        "ref": branch,
        "sha": sha,
        "user": user_json(links(), owner),
        "repo": repository_json(links(), repo, owner),
    }
