"""App endpoints: the App itself, installation tokens, a repository's installation, rate limit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response

from guard.sandbox.access import require_app
from guard.sandbox.auth import issue_installation_token
from guard.sandbox.errors import ApiError, not_found
from guard.sandbox.models import InstallationRecord
from guard.sandbox.payloads_core import installation_json, integration_json, repository_json
from guard.sandbox.runtime import caller, current, json_body, links, rate_key, respond

blueprint = Blueprint("sandbox_apps", __name__)

NOT_GRANTED = "The permissions requested are not granted to this installation."
NOT_IN_INSTALLATION = (
    "There is at least one repository that does not exist or is not accessible to the parent "
    "installation."
)


@blueprint.get("/app")
def get_app() -> Response:
    state = current().state
    app = state.apps[require_app(caller())]
    return respond(integration_json(links(), app, state.ensure_user(app.owner)))


@blueprint.post("/app/installations/<int:installation_id>/access_tokens")
def create_installation_token(installation_id: int) -> Response:
    runtime = current()
    state = runtime.state
    app_id = require_app(caller())
    installation = state.installations.get(installation_id)
    if installation is None or installation.app_id != app_id:
        raise not_found()
    body = json_body()
    permissions = _requested_permissions(installation, body.get("permissions"))
    repositories = _requested_repositories(installation, body)
    token = issue_installation_token(
        state, installation, runtime.clock, repositories=repositories, permissions=permissions
    )
    assert token.expires_at is not None
    answer: dict[str, Any] = {
        "token": token.token,
        "expires_at": datetime.fromtimestamp(token.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": permissions,
        "repository_selection": "all" if repositories is None else "selected",
    }
    if repositories is not None:
        answer["repositories"] = [
            repository_json(links(), repo, state.ensure_user(repo.owner))
            for repo in (state.repo(name) for name in repositories)
            if repo is not None
        ]
    return respond(answer, 201)


def _requested_permissions(installation: InstallationRecord, requested: Any) -> dict[str, str]:
    granted = dict(installation.permissions)
    if not requested:
        # PyGithub sends `"permissions": {}` when it wants the installation's full set.
        return granted
    if not isinstance(requested, dict):
        raise ApiError(422, NOT_GRANTED)
    for name, level in requested.items():
        have = granted.get(name)
        if have is None or (level == "write" and have != "write"):
            raise ApiError(422, NOT_GRANTED)
    return {str(name): str(level) for name, level in requested.items()}


def _requested_repositories(
    installation: InstallationRecord, body: dict[str, Any]
) -> list[str] | None:
    state = current().state
    names = body.get("repositories")
    ids = body.get("repository_ids")
    if names is None and ids is None:
        return installation.repositories
    wanted: list[str] = []
    for name in names or []:
        wanted.append(name if "/" in str(name) else f"{installation.account}/{name}")
    for repo_id in ids or []:
        match = next((r for r in state.repos.values() if r.id == repo_id), None)
        if match is None:
            raise ApiError(422, NOT_IN_INSTALLATION)
        wanted.append(match.full_name)
    allowed = (
        None
        if installation.repositories is None
        else {name.lower() for name in installation.repositories}
    )
    resolved = []
    for name in wanted:
        repo = state.repo(name)
        if repo is None or repo.owner.lower() != installation.account.lower():
            raise ApiError(422, NOT_IN_INSTALLATION)
        if allowed is not None and repo.full_name.lower() not in allowed:
            raise ApiError(422, NOT_IN_INSTALLATION)
        resolved.append(repo.full_name)
    return resolved


@blueprint.get("/repos/<owner>/<name>/installation")
def get_repo_installation(owner: str, name: str) -> Response:
    state = current().state
    app_id = require_app(caller())
    repo = state.repo(f"{owner}/{name}")
    if repo is None:
        raise not_found()
    for installation in state.installations.values():
        if installation.app_id != app_id or installation.account.lower() != repo.owner.lower():
            continue
        chosen = installation.repositories
        if chosen is None or repo.full_name.lower() in {n.lower() for n in chosen}:
            app = state.apps[app_id]
            account = state.ensure_user(installation.account)
            return respond(installation_json(links(), installation, app, account))
    raise not_found()


@blueprint.get("/rate_limit")
def get_rate_limit() -> Response:
    rate = current().rate.hit(rate_key(), count=False)
    core = rate.as_dict()
    resources = {
        "core": core,
        "search": {"limit": 30, "remaining": 30, "used": 0, "reset": core["reset"]},
        "graphql": {"limit": 5000, "remaining": 5000, "used": 0, "reset": core["reset"]},
    }
    return respond({"resources": resources, "rate": core})
