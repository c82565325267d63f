"""JSON for the work around code: deployments and statuses, issues, pulls, checks, environments."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from guard.sandbox.models import (
    CheckRunRecord,
    CommentRecord,
    CommitStatusRecord,
    DeploymentRecord,
    DeploymentStatusRecord,
    EnvironmentRecord,
    IssueRecord,
    LabelRecord,
    PullRecord,
    UserRecord,
)
from guard.sandbox.payloads_core import Links, node_id, user_json


def deployment_json(
    links: Links, deployment: DeploymentRecord, creator: UserRecord, app: dict[str, Any] | None
) -> dict[str, Any]:
    api = links.repo(deployment.repo)
    return {
        "url": f"{api}/deployments/{deployment.id}",
        "id": deployment.id,
        "node_id": node_id("Deployment", deployment.id),
        "sha": deployment.sha,
        "ref": deployment.ref,
        "task": deployment.task,
        "payload": deployment.payload,
        "original_environment": deployment.original_environment,
        "environment": deployment.environment,
        "description": deployment.description,
        "creator": user_json(links, creator),
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
        "statuses_url": f"{api}/deployments/{deployment.id}/statuses",
        "repository_url": api,
        "transient_environment": deployment.transient_environment,
        "production_environment": deployment.production_environment,
        "performed_via_github_app": app,
    }


def deployment_status_json(
    links: Links, status: DeploymentStatusRecord, creator: UserRecord, app: dict[str, Any] | None
) -> dict[str, Any]:
    api = links.repo(status.repo)
    deployment_url = f"{api}/deployments/{status.deployment_id}"
    body: dict[str, Any] = {
        "url": f"{deployment_url}/statuses/{status.id}",
        "id": status.id,
        "node_id": node_id("DeploymentStatus", status.id),
        "state": status.state,
        "creator": user_json(links, creator),
        "description": status.description,
        "environment": status.environment,
        # GitHub answers an empty string, not null, when no target_url was given.
        "target_url": status.target_url,
        "created_at": status.created_at,
        "updated_at": status.updated_at,
        "deployment_url": deployment_url,
        "repository_url": api,
        "performed_via_github_app": app,
    }
    if status.log_url:
        body["log_url"] = status.log_url
    if status.environment_url:
        body["environment_url"] = status.environment_url
    return body


def label_json(links: Links, label: LabelRecord) -> dict[str, Any]:
    return {
        "id": label.id,
        "node_id": node_id("Label", label.id),
        "url": f"{links.repo(label.repo)}/labels/{quote(label.name)}",
        "name": label.name,
        "color": label.color,
        "description": label.description,
        "default": label.default,
    }


def issue_json(
    links: Links,
    issue: IssueRecord,
    *,
    author: UserRecord,
    assignees: list[UserRecord],
    labels: list[LabelRecord],
    association: str,
) -> dict[str, Any]:
    api = links.repo(issue.repo)
    url = f"{api}/issues/{issue.number}"
    kind = "pull" if issue.is_pull else "issues"
    body: dict[str, Any] = {
        "id": issue.id,
        "node_id": node_id("Issue", issue.id),
        "url": url,
        "repository_url": api,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "timeline_url": f"{url}/timeline",
        "html_url": links.html(f"{issue.repo}/{kind}/{issue.number}"),
        "number": issue.number,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "title": issue.title,
        "body": issue.body,
        "user": user_json(links, author),
        "labels": [label_json(links, label) for label in labels],
        "assignee": user_json(links, assignees[0]) if assignees else None,
        "assignees": [user_json(links, user) for user in assignees],
        "milestone": None,
        "locked": issue.locked,
        "active_lock_reason": None,
        "comments": issue.comments,
        "created_at": issue.created_at,
        "updated_at": issue.updated_at,
        "closed_at": issue.closed_at,
        "author_association": association,
    }
    if issue.is_pull:
        pull_url = f"{api}/pulls/{issue.number}"
        body["pull_request"] = {
            "url": pull_url,
            "html_url": links.html(f"{issue.repo}/pull/{issue.number}"),
            "diff_url": links.html(f"{issue.repo}/pull/{issue.number}.diff"),
            "patch_url": links.html(f"{issue.repo}/pull/{issue.number}.patch"),
            "merged_at": None,
        }
    return body


def comment_json(
    links: Links, comment: CommentRecord, author: UserRecord, association: str
) -> dict[str, Any]:
    api = links.repo(comment.repo)
    return {
        "id": comment.id,
        "node_id": node_id("IssueComment", comment.id),
        "url": f"{api}/issues/comments/{comment.id}",
        "html_url": links.html(
            f"{comment.repo}/issues/{comment.issue_number}#issuecomment-{comment.id}"
        ),
        "issue_url": f"{api}/issues/{comment.issue_number}",
        "body": comment.body,
        "user": user_json(links, author),
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "author_association": association,
    }


def pull_json(
    links: Links,
    pull: PullRecord,
    *,
    issue: dict[str, Any],
    head: dict[str, Any],
    base: dict[str, Any],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """A `pull-request`; `issue` is the issue JSON of the same number, `head`/`base` its ends."""
    api = links.repo(pull.repo)
    url = f"{api}/pulls/{pull.number}"
    html = links.html(f"{pull.repo}/pull/{pull.number}")
    comments_url = f"{api}/issues/{pull.number}/comments"
    statuses_url = f"{api}/statuses/{pull.head_sha}"
    return {
        "url": url,
        "id": pull.id,
        "node_id": node_id("PullRequest", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue["url"],
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": comments_url,
        "statuses_url": statuses_url,
        "number": pull.number,
        "state": issue["state"],
        "locked": issue["locked"],
        "title": issue["title"],
        "user": issue["user"],
        "body": issue["body"],
        "labels": issue["labels"],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_at": issue["closed_at"],
        "merged_at": pull.merged_at,
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": issue["assignee"],
        "assignees": issue["assignees"],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": head,
        "base": base,
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue["url"]},
            "comments": {"href": comments_url},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": statuses_url},
        },
        "author_association": issue["author_association"],
        "auto_merge": None,
        "draft": pull.draft,
        "merged": pull.merged_at is not None,
        "mergeable": stats["mergeable"],
        "rebaseable": stats["mergeable"],
        "mergeable_state": "clean" if stats["mergeable"] else "dirty",
        "merged_by": None,
        "comments": issue["comments"],
        "review_comments": 0,
        "maintainer_can_modify": pull.maintainer_can_modify,
        "commits": stats["commits"],
        "additions": stats["additions"],
        "deletions": stats["deletions"],
        "changed_files": stats["changed_files"],
    }


def check_run_json(links: Links, run: CheckRunRecord, app: dict[str, Any]) -> dict[str, Any]:
    api = links.repo(run.repo)
    url = f"{api}/check-runs/{run.id}"
    return {
        "id": run.id,
        "node_id": node_id("CheckRun", run.id),
        "head_sha": run.head_sha,
        "external_id": run.external_id,
        "url": url,
        "html_url": links.html(f"{run.repo}/runs/{run.id}"),
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "output": {
            "title": run.output_title,
            "summary": run.output_summary,
            "text": run.output_text,
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        },
        "name": run.name,
        "check_suite": {"id": run.check_suite_id},
        "app": app,
        "pull_requests": [],
    }


def commit_status_json(
    links: Links, status: CommitStatusRecord, creator: UserRecord
) -> dict[str, Any]:
    creator_json = user_json(links, creator)
    return {
        "url": f"{links.repo(status.repo)}/statuses/{status.sha}",
        "avatar_url": creator_json["avatar_url"],
        "id": status.id,
        "node_id": node_id("StatusContext", status.id),
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": status.created_at,
        "updated_at": status.updated_at,
        "creator": creator_json,
    }


def environment_json(links: Links, environment: EnvironmentRecord) -> dict[str, Any]:
    name = quote(environment.name, safe="")
    return {
        "id": environment.id,
        "node_id": node_id("Environment", environment.id),
        "name": environment.name,
        "url": f"{links.repo(environment.repo)}/environments/{name}",
        "html_url": links.html(f"{environment.repo}/deployments/activity_log?environment={name}"),
        "created_at": environment.created_at,
        "updated_at": environment.updated_at,
        "protection_rules": [],
        "deployment_branch_policy": None,
    }
