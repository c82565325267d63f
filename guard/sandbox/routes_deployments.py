"""Deployments and their statuses, with GitHub's auto-merge, required contexts and auto_inactive."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.errors import ApiError, not_found, validation_failed
from guard.sandbox.models import (
    DeploymentRecord,
    DeploymentStatusRecord,
    EnvironmentRecord,
    RepoRecord,
)
from guard.sandbox.pagination import paginate
from guard.sandbox.payloads_work import deployment_json, deployment_status_json
from guard.sandbox.repo_ops import HEADS, merge_into, passing_contexts
from guard.sandbox.runtime import (
    acting_app_id,
    acting_identity,
    acting_user,
    app_json,
    current,
    json_body,
    links,
    repo_for,
    respond,
)
from guard.sandbox.state import branch_key, utc_now

blueprint = Blueprint("sandbox_deployments", __name__)

STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
MAX_DESCRIPTION = 140


def deployment_payload(deployment: DeploymentRecord) -> dict[str, Any]:
    state = current().state
    creator = state.ensure_user(deployment.creator)
    return deployment_json(links(), deployment, creator, app_json(deployment.app_id))


def status_payload(status: DeploymentStatusRecord) -> dict[str, Any]:
    state = current().state
    creator = state.ensure_user(status.creator)
    return deployment_status_json(links(), status, creator, app_json(status.app_id))


def ensure_environment(repo: RepoRecord, name: str) -> EnvironmentRecord:
    """GitHub creates an environment the first time something is deployed to it."""
    state = current().state
    key = branch_key(repo.full_name, name.lower())
    existing = state.environments.get(key)
    if existing is not None:
        return existing
    now = utc_now()
    environment = EnvironmentRecord(state.next_id("environment"), repo.full_name, name, now, now)
    state.environments[key] = environment
    return environment


@blueprint.post("/repos/<owner>/<name>/deployments")
def create_deployment(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "deployments", write=True)
    runtime = current()
    git = runtime.git(repo)
    body = json_body()
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed("Deployment", "ref", "missing_field")
    sha = git.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No ref found for: {ref}")
    merged = _auto_merge(repo, ref, sha, body.get("auto_merge", True))
    if merged is not None:
        return merged
    _check_required_contexts(repo, ref, sha, body.get("required_contexts"))
    environment = str(body.get("environment") or "production")
    now = utc_now()
    deployment = DeploymentRecord(
        id=runtime.state.next_id("deployment"),
        repo=repo.full_name,
        sha=sha,
        ref=ref,
        task=str(body.get("task") or "deploy"),
        payload=_payload(body.get("payload", {})),
        environment=environment,
        original_environment=environment,
        creator=acting_user().login,
        created_at=now,
        updated_at=now,
        description=body.get("description", ""),
        transient_environment=bool(body.get("transient_environment", False)),
        production_environment=bool(
            body.get("production_environment", environment == "production")
        ),
        app_id=acting_app_id(),
    )
    runtime.state.deployments[deployment.id] = deployment
    ensure_environment(repo, environment)
    payload = deployment_payload(deployment)
    if runtime.webhooks is not None:
        runtime.webhooks.deployment_created(repo, payload)
    return respond(payload, 201)


def _payload(raw: Any) -> Any:
    """A JSON string payload is stored as the object it encodes, as GitHub does."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw if raw is not None else {}


def _auto_merge(repo: RepoRecord, ref: str, sha: str, auto_merge: Any) -> Response | None:
    """With auto_merge (the default) a branch behind the default branch gets it merged first."""
    git = current().git(repo)
    if not auto_merge or ref == repo.default_branch or git.ref_target(HEADS + ref) is None:
        return None
    default_sha = git.ref_target(HEADS + repo.default_branch)
    if default_sha is None or git.is_ancestor(default_sha, sha):
        return None
    message = f"Auto-merged {repo.default_branch} into {ref} on deployment."
    outcome = merge_into(git, ref, default_sha, message, acting_identity())
    if outcome.conflict:
        raise ApiError(409, f"Conflict merging {repo.default_branch} into {ref}.")
    return respond({"message": message}, 202)


def _check_required_contexts(repo: RepoRecord, ref: str, sha: str, required: Any) -> None:
    """Without required_contexts every context on the commit must be green; [] skips the check."""
    states = passing_contexts(current().state, repo, sha)
    wanted = list(states) if required is None else [str(context) for context in required]
    failing = [context for context in wanted if states.get(context) != "success"]
    if failing:
        contexts = [{"context": c, "state": states.get(c, "missing")} for c in failing]
        raise ApiError(
            409,
            f"Conflict: Commit status checks failed for {ref}.",
            errors=[
                {
                    "contexts": contexts,
                    "resource": "Deployment",
                    "field": "required_contexts",
                    "code": "invalid",
                }
            ],
        )


@blueprint.get("/repos/<owner>/<name>/deployments")
def list_deployments(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "deployments")
    filters = {key: request.args.get(key) for key in ("sha", "ref", "task", "environment")}
    found = [
        d
        for d in current().state.deployments.values()
        if d.repo == repo.full_name
        and all(value is None or getattr(d, key) == value for key, value in filters.items())
    ]
    found.sort(key=lambda d: d.id, reverse=True)
    page, link = paginate(found)
    return respond([deployment_payload(d) for d in page], headers={"Link": link} if link else None)


def _deployment(repo: RepoRecord, deployment_id: int) -> DeploymentRecord:
    deployment = current().state.deployments.get(deployment_id)
    if deployment is None or deployment.repo != repo.full_name:
        raise not_found()
    return deployment


@blueprint.get("/repos/<owner>/<name>/deployments/<int:deployment_id>")
def get_deployment(owner: str, name: str, deployment_id: int) -> Response:
    repo = repo_for(owner, name, "deployments")
    return respond(deployment_payload(_deployment(repo, deployment_id)))


@blueprint.post("/repos/<owner>/<name>/deployments/<int:deployment_id>/statuses")
def create_status(owner: str, name: str, deployment_id: int) -> Response:
    repo = repo_for(owner, name, "deployments", write=True)
    runtime = current()
    deployment = _deployment(repo, deployment_id)
    body = json_body()
    state_value = body.get("state")
    if state_value not in STATES:
        raise validation_failed("DeploymentStatus", "state", "invalid")
    description = str(body.get("description") or "")
    if len(description) > MAX_DESCRIPTION:
        raise validation_failed(
            "DeploymentStatus",
            "description",
            "custom",
            f"description is too long (maximum is {MAX_DESCRIPTION} characters)",
        )
    # log_url replaces target_url; setting either one shows the URL under both names.
    url = str(body.get("log_url") or body.get("target_url") or "")
    if body.get("environment"):
        deployment.environment = str(body["environment"])
        ensure_environment(repo, deployment.environment)
    now = utc_now()
    deployment.updated_at = now
    status = _add_status(
        deployment,
        state_value,
        description=description,
        url=url,
        environment_url=str(body.get("environment_url") or ""),
    )
    if state_value == "success" and body.get("auto_inactive", True):
        _deactivate_earlier(deployment)
    payload = status_payload(status)
    if runtime.webhooks is not None:
        runtime.webhooks.deployment_status_created(repo, payload, deployment_payload(deployment))
    return respond(payload, 201, {"Location": payload["url"]})


def _add_status(
    deployment: DeploymentRecord,
    state_value: str,
    *,
    description: str = "",
    url: str = "",
    environment_url: str = "",
) -> DeploymentStatusRecord:
    state = current().state
    now = utc_now()
    status = DeploymentStatusRecord(
        id=state.next_id("deployment_status"),
        deployment_id=deployment.id,
        repo=deployment.repo,
        state=state_value,
        creator=acting_user().login,
        created_at=now,
        updated_at=now,
        description=description,
        environment=deployment.environment,
        environment_url=environment_url,
        log_url=url,
        target_url=url,
        app_id=acting_app_id(),
    )
    state.deployment_statuses[status.id] = status
    return status


def latest_state(deployment_id: int) -> str | None:
    statuses = [
        s for s in current().state.deployment_statuses.values() if s.deployment_id == deployment_id
    ]
    return max(statuses, key=lambda s: s.id).state if statuses else None


def _deactivate_earlier(deployment: DeploymentRecord) -> None:
    """auto_inactive: earlier non-transient, non-production deployments of the same environment
    that are live (latest status success) get an `inactive` status."""
    for earlier in list(current().state.deployments.values()):
        if (
            earlier.repo == deployment.repo
            and earlier.id < deployment.id
            and earlier.environment == deployment.environment
            and not earlier.transient_environment
            and not earlier.production_environment
            and latest_state(earlier.id) == "success"
        ):
            _add_status(earlier, "inactive")


@blueprint.get("/repos/<owner>/<name>/deployments/<int:deployment_id>/statuses")
def list_statuses(owner: str, name: str, deployment_id: int) -> Response:
    repo = repo_for(owner, name, "deployments")
    deployment = _deployment(repo, deployment_id)
    found = [
        s for s in current().state.deployment_statuses.values() if s.deployment_id == deployment.id
    ]
    found.sort(key=lambda s: s.id, reverse=True)
    page, link = paginate(found)
    return respond([status_payload(s) for s in page], headers={"Link": link} if link else None)
