"""JSON for accounts, repositories, Apps and installations, with every URL on the caller's host.

PyGithub refuses to follow a `url` or `Link` that points at another host or port than its
base_url, so every URL here is built from the request's own scheme://host:port.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from guard.sandbox.models import AppRecord, InstallationRecord, RepoRecord, UserRecord


class Links:
    """URLs of the sandbox as the current caller reached it."""

    def __init__(self, host_url: str) -> None:
        self.base = host_url.rstrip("/")

    def api(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def repo(self, full_name: str) -> str:
        return f"{self.base}/repos/{full_name}"

    def html(self, path: str) -> str:
        """Where github.com would show a thing; the sandbox has no pages, but keeps the shape."""
        return f"{self.base}/{path.lstrip('/')}"


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node id: base64 of `0<len>:<Type><id>`."""
    text = f"0{len(kind)}:{kind}{number}"
    return base64.b64encode(text.encode()).decode().rstrip("=")


def user_json(links: Links, user: UserRecord) -> dict[str, Any]:
    """A `simple-user`."""
    api = links.api(f"users/{quote(user.login)}")
    is_bot = user.login.endswith("[bot]")
    html = links.html(f"apps/{user.login[:-5]}") if is_bot else links.html(quote(user.login))
    return {
        "login": user.login,
        "id": user.id,
        "node_id": node_id("Bot" if is_bot else "User", user.id),
        "avatar_url": links.api(f"avatars/u/{user.id}"),
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": user.type,
        "user_view_type": "public",
        "site_admin": False,
    }


_REPO_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository_json(
    links: Links, repo: RepoRecord, owner: UserRecord, *, open_issues: int = 0, full: bool = False
) -> dict[str, Any]:
    """A `repository` (in pulls and tokens) or, with full=True, a `full-repository`."""
    api = links.repo(repo.full_name)
    host = links.base.split("://", 1)[-1]
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user_json(links, owner),
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": links.html(repo.full_name),
        "description": repo.description,
        "fork": False,
        "url": api,
        **{key: api + suffix for key, suffix in _REPO_TEMPLATES.items()},
        "git_url": f"git://{host}/{repo.full_name}.git",
        "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
        "clone_url": links.html(f"{repo.full_name}.git"),
        "svn_url": links.html(repo.full_name),
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "size": 0,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "open_issues": open_issues,
        "open_issues_count": open_issues,
        "default_branch": repo.default_branch,
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": False,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "is_template": False,
        "topics": [],
        "license": None,
        "created_at": repo.created_at,
        "updated_at": repo.updated_at,
        "pushed_at": repo.pushed_at,
    }
    if full:
        body.update({"network_count": 0, "subscribers_count": 0})
    return body


def integration_json(links: Links, app: AppRecord, owner: UserRecord) -> dict[str, Any]:
    """An `integration`: the App as GET /app and `performed_via_github_app` show it."""
    return {
        "id": app.id,
        "slug": app.slug,
        "client_id": app.client_id,
        "node_id": node_id("Integration", app.id),
        "owner": user_json(links, owner),
        "name": app.name,
        "description": app.description,
        "external_url": links.html(f"apps/{app.slug}"),
        "html_url": links.html(f"apps/{app.slug}"),
        "created_at": app.created_at,
        "updated_at": app.created_at,
        "permissions": dict(app.permissions),
        "events": list(app.events),
        "installations_count": 0,
    }


def installation_json(
    links: Links, installation: InstallationRecord, app: AppRecord, account: UserRecord
) -> dict[str, Any]:
    return {
        "id": installation.id,
        "client_id": app.client_id,
        "account": user_json(links, account),
        "repository_selection": "all" if installation.repositories is None else "selected",
        "access_tokens_url": links.api(f"app/installations/{installation.id}/access_tokens"),
        "repositories_url": links.api("installation/repositories"),
        "html_url": links.html(f"settings/installations/{installation.id}"),
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": account.id,
        "target_type": "Organization" if account.type == "Organization" else "User",
        "permissions": dict(installation.permissions),
        "events": list(app.events),
        "created_at": installation.created_at,
        "updated_at": installation.created_at,
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }
