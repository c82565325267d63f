"""The lists a client needs to find what it made before: pulls, comments, check runs, a role."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.errors import ApiError, not_found
from guard.sandbox.models import CheckRunRecord, PullRecord, RepoRecord
from guard.sandbox.pagination import paginate
from guard.sandbox.payloads_core import repository_json, user_json
from guard.sandbox.payloads_work import check_run_json, comment_json, pull_json
from guard.sandbox.repo_ops import HEADS
from guard.sandbox.routes_issues import issue_payload
from guard.sandbox.runtime import app_json, association, current, links, repo_for, respond
from guard.sandbox.state import issue_key

blueprint = Blueprint("sandbox_lists", __name__)

# The keys of GitHub's `pull-request-simple`: a list leaves out what costs a merge to compute
# (mergeable, commits, additions, ...), so the sandbox does too.
PULL_SIMPLE_KEYS = (
    "url",
    "id",
    "node_id",
    "html_url",
    "diff_url",
    "patch_url",
    "issue_url",
    "commits_url",
    "review_comments_url",
    "review_comment_url",
    "comments_url",
    "statuses_url",
    "number",
    "state",
    "locked",
    "title",
    "user",
    "body",
    "labels",
    "milestone",
    "active_lock_reason",
    "created_at",
    "updated_at",
    "closed_at",
    "merged_at",
    "merge_commit_sha",
    "assignee",
    "assignees",
    "requested_reviewers",
    "requested_teams",
    "head",
    "base",
    "_links",
    "author_association",
    "auto_merge",
    "draft",
)
_NO_STATS = {"commits": 0, "additions": 0, "deletions": 0, "changed_files": 0, "mergeable": None}
# GET .../permission answers the legacy base role too: maintain reads as write, triage as read.
_BASE_ROLE = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read"}
_PERMISSION_FLAGS = ("pull", "triage", "push", "maintain", "admin")


def _links_header(link: str | None) -> dict[str, str] | None:
    return {"Link": link} if link else None


def _pull_end(repo: RepoRecord, branch: str, sha: str) -> dict[str, Any]:
    owner = current().state.ensure_user(repo.owner)
    return {
        "label": f"{repo.owner}:{branch}",
        "ref": branch,
        "sha": sha,
        "user": user_json(links(), owner),
        "repo": repository_json(links(), repo, owner),
    }


def _simple_pull(repo: RepoRecord, pull: PullRecord) -> dict[str, Any]:
    runtime = current()
    git = runtime.git(repo)
    issue = runtime.state.issues[issue_key(repo.full_name, pull.number)]
    # A branch moves after the pull opens; GitHub shows where it points now.
    head_sha = git.ref_target(HEADS + pull.head_ref) or pull.head_sha
    base_sha = git.ref_target(HEADS + pull.base_ref) or pull.base_sha
    full = pull_json(
        links(),
        pull,
        issue=issue_payload(repo, issue),
        head=_pull_end(repo, pull.head_ref, head_sha),
        base=_pull_end(repo, pull.base_ref, base_sha),
        stats=_NO_STATS,
    )
    return {key: full[key] for key in PULL_SIMPLE_KEYS}


def _wanted_head(repo: RepoRecord, head: str | None) -> str | None:
    """The branch a `head` filter names; GitHub's form is `owner:branch` (forks aside)."""
    if head is None:
        return None
    owner, separator, branch = head.partition(":")
    if not separator:
        return head
    # A head in another account's fork: the sandbox has no forks, so nothing matches.
    return branch if owner.lower() == repo.owner.lower() else "\0"


@blueprint.get("/repos/<owner>/<name>/pulls")
def list_pulls(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "pull_requests")
    state = current().state
    wanted_state = request.args.get("state", "open")
    head = _wanted_head(repo, request.args.get("head"))
    base = request.args.get("base")
    found = []
    for pull in state.pulls.values():
        issue = state.issues.get(issue_key(pull.repo, pull.number))
        if pull.repo != repo.full_name or issue is None:
            continue
        if wanted_state not in {"all", issue.state}:
            continue
        if (head is not None and pull.head_ref != head) or (
            base is not None and pull.base_ref != base
        ):
            continue
        found.append((pull, issue))
    sort = request.args.get("sort", "created")
    default_direction = "desc" if sort == "created" else "asc"
    descending = request.args.get("direction", default_direction) == "desc"
    if sort == "updated":
        found.sort(key=lambda pair: (pair[1].updated_at, pair[0].number), reverse=descending)
    elif sort == "popularity":
        found.sort(key=lambda pair: (pair[1].comments, pair[0].number), reverse=descending)
    else:
        found.sort(key=lambda pair: pair[0].number, reverse=descending)
    page, link = paginate([pull for pull, _ in found])
    return respond([_simple_pull(repo, pull) for pull in page], headers=_links_header(link))


@blueprint.get("/repos/<owner>/<name>/issues/<int:number>/comments")
def list_comments(owner: str, name: str, number: int) -> Response:
    repo = repo_for(owner, name, "issues")
    state = current().state
    if issue_key(repo.full_name, number) not in state.issues:
        raise not_found()
    since = request.args.get("since")
    comments = sorted(
        (
            comment
            for comment in state.comments.values()
            if comment.repo == repo.full_name
            and comment.issue_number == number
            # Timestamps share one format (UTC, Z), so text order is time order.
            and (since is None or comment.updated_at >= since)
        ),
        key=lambda comment: comment.id,
    )
    page, link = paginate(comments)
    body = [
        comment_json(
            links(),
            comment,
            state.ensure_user(comment.user),
            association(repo, comment.user),
        )
        for comment in page
    ]
    return respond(body, headers=_links_header(link))


def _latest_per_name(runs: list[CheckRunRecord]) -> list[CheckRunRecord]:
    """`filter=latest`: the newest run of each name (per App), as GitHub shows on a commit."""
    newest: dict[tuple[int, str], CheckRunRecord] = {}
    for run in sorted(runs, key=lambda run: run.id):
        newest[run.app_id, run.name] = run
    return list(newest.values())


@blueprint.get("/repos/<owner>/<name>/commits/<path:ref>/check-runs")
def list_check_runs(owner: str, name: str, ref: str) -> Response:
    repo = repo_for(owner, name, "checks")
    runtime = current()
    sha = runtime.git(repo).resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    runs = [
        run
        for run in runtime.state.check_runs.values()
        if run.repo == repo.full_name and run.head_sha == sha
    ]
    check_name = request.args.get("check_name")
    status = request.args.get("status")
    app_id = request.args.get("app_id")
    if request.args.get("filter", "latest") == "latest":
        runs = _latest_per_name(runs)
    runs = [
        run
        for run in runs
        if (check_name is None or run.name == check_name)
        and (status is None or run.status == status)
        and (app_id is None or str(run.app_id) == app_id)
    ]
    runs.sort(key=lambda run: run.id, reverse=True)
    page, link = paginate(runs)
    body = {
        "total_count": len(runs),
        "check_runs": [check_run_json(links(), run, app_json(run.app_id) or {}) for run in page],
    }
    return respond(body, headers=_links_header(link))


@blueprint.get("/repos/<owner>/<name>/collaborators/<username>/permission")
def collaborator_permission(owner: str, name: str, username: str) -> Response:
    repo = repo_for(owner, name, "metadata")
    state = current().state
    user = state.user(username)
    if user is None:
        raise not_found()
    role = state.permission(repo, user.login)
    if role is None:
        # Anyone may read a public repository; on a private one an outsider has no role.
        role = "none" if repo.private else "read"
    base = _BASE_ROLE.get(role, role)
    granted: tuple[str, ...] = ()
    if role != "none":
        flag = {"read": "pull", "write": "push"}.get(role, role)
        granted = _PERMISSION_FLAGS[: _PERMISSION_FLAGS.index(flag) + 1]
    collaborator = {
        **user_json(links(), user),
        "email": user.email,
        "name": user.name,
        "permissions": {flag: flag in granted for flag in _PERMISSION_FLAGS},
        "role_name": role,
    }
    return respond({"permission": base, "role_name": role, "user": collaborator})
