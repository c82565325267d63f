"""Check runs and commit statuses; protection-rule reviews and workflow dispatches, recorded."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from guard.sandbox.errors import ApiError, not_found, validation_failed
from guard.sandbox.models import CheckRunRecord, CommitStatusRecord, DispatchRecord, ReviewRecord
from guard.sandbox.payloads_work import check_run_json, commit_status_json
from guard.sandbox.runtime import (
    acting_user,
    app_json,
    caller,
    current,
    json_body,
    links,
    no_content,
    repo_for,
    respond,
)
from guard.sandbox.state import utc_now

blueprint = Blueprint("sandbox_checks", __name__)

CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
COMMIT_STATES = ("error", "failure", "pending", "success")
MAX_REVIEW_COMMENT = 1024


def _check_run_payload(run: CheckRunRecord) -> dict[str, Any]:
    return check_run_json(links(), run, app_json(run.app_id) or {})


@blueprint.post("/repos/<owner>/<name>/check-runs")
def create_check_run(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "checks", write=True)
    principal = caller()
    if principal.kind != "installation" or principal.app_id is None:
        raise ApiError(403, "You must authenticate via a GitHub App.")
    runtime = current()
    body = json_body()
    run_name, head_sha = body.get("name"), body.get("head_sha")
    if not isinstance(run_name, str) or not run_name:
        raise validation_failed("CheckRun", "name", "missing_field")
    sha = runtime.git(repo).resolve(head_sha) if isinstance(head_sha, str) else None
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {head_sha}")
    run = CheckRunRecord(
        id=runtime.state.next_id("check_run"),
        repo=repo.full_name,
        name=run_name,
        head_sha=sha,
        status="queued",
        app_id=principal.app_id,
        check_suite_id=runtime.state.next_id("check_suite"),
        started_at=utc_now(),
    )
    _apply_check_fields(run, body)
    runtime.state.check_runs[run.id] = run
    return respond(_check_run_payload(run), 201)


@blueprint.patch("/repos/<owner>/<name>/check-runs/<int:check_run_id>")
def update_check_run(owner: str, name: str, check_run_id: int) -> Response:
    repo = repo_for(owner, name, "checks", write=True)
    run = current().state.check_runs.get(check_run_id)
    if run is None or run.repo != repo.full_name or run.app_id != caller().app_id:
        raise not_found()
    body = json_body()
    if isinstance(body.get("name"), str) and body["name"]:
        run.name = body["name"]
    _apply_check_fields(run, body)
    return respond(_check_run_payload(run))


def _apply_check_fields(run: CheckRunRecord, body: dict[str, Any]) -> None:
    status, conclusion = body.get("status"), body.get("conclusion")
    if status is not None and status not in CHECK_STATUSES:
        raise validation_failed("CheckRun", "status")
    if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
        raise validation_failed("CheckRun", "conclusion")
    if status == "completed" and conclusion is None and run.conclusion is None:
        raise validation_failed("CheckRun", "conclusion", "missing_field")
    for field in ("details_url", "external_id", "started_at", "completed_at"):
        if field in body:
            setattr(run, field, body[field])
    if status is not None:
        run.status = status
    if conclusion is not None:
        # A conclusion completes the run, as on GitHub.
        run.conclusion = conclusion
        run.status = "completed"
        run.completed_at = body.get("completed_at") or run.completed_at or utc_now()
    output = body.get("output")
    if isinstance(output, dict):
        if not output.get("title") or not output.get("summary"):
            raise validation_failed("CheckRun", "output", "missing_field")
        run.output_title = str(output["title"])
        run.output_summary = str(output["summary"])
        run.output_text = output.get("text")


@blueprint.post("/repos/<owner>/<name>/statuses/<sha>")
def create_commit_status(owner: str, name: str, sha: str) -> Response:
    repo = repo_for(owner, name, "statuses", write=True)
    runtime = current()
    body = json_body()
    state_value = body.get("state")
    if state_value not in COMMIT_STATES:
        raise validation_failed("Status", "state")
    resolved = runtime.git(repo).resolve(sha)
    if resolved is None:
        raise ApiError(422, f"No commit found for SHA: {sha}")
    description = body.get("description")
    if isinstance(description, str) and len(description) > 140:
        raise validation_failed("Status", "description", "custom", "description is too long")
    now = utc_now()
    author = acting_user()
    status = CommitStatusRecord(
        id=runtime.state.next_id("status"),
        repo=repo.full_name,
        sha=resolved,
        state=state_value,
        context=str(body.get("context") or "default"),
        creator=author.login,
        created_at=now,
        updated_at=now,
        description=description,
        target_url=body.get("target_url"),
    )
    runtime.state.commit_statuses[status.id] = status
    payload = commit_status_json(links(), status, author)
    return respond(payload, 201, {"Location": payload["url"]})


@blueprint.post("/repos/<owner>/<name>/actions/runs/<int:run_id>/deployment_protection_rule")
def review_protection_rule(owner: str, name: str, run_id: int) -> Response:
    repo = repo_for(owner, name, "deployments", write=True)
    principal = caller()
    if principal.kind != "installation":
        raise ApiError(403, "You must authenticate via a GitHub App.")
    body = json_body()
    environment = body.get("environment_name")
    review_state, comment = body.get("state"), body.get("comment")
    if not isinstance(environment, str) or not environment:
        raise validation_failed("DeploymentProtectionRule", "environment_name", "missing_field")
    if review_state is not None and review_state not in {"approved", "rejected"}:
        raise validation_failed("DeploymentProtectionRule", "state")
    if review_state is None and not comment:
        raise validation_failed("DeploymentProtectionRule", "comment", "missing_field")
    if isinstance(comment, str) and len(comment) > MAX_REVIEW_COMMENT:
        raise validation_failed(
            "DeploymentProtectionRule", "comment", "custom", "comment is too long"
        )
    state = current().state
    review = ReviewRecord(
        id=state.next_id("protection_review"),
        repo=repo.full_name,
        run_id=run_id,
        environment_name=environment,
        actor=principal.label,
        created_at=utc_now(),
        state=review_state,
        comment=comment,
    )
    state.reviews[review.id] = review
    return no_content()


@blueprint.post("/repos/<owner>/<name>/actions/workflows/<workflow_id>/dispatches")
def dispatch_workflow(owner: str, name: str, workflow_id: str) -> Response:
    repo = repo_for(owner, name, "actions", write=True)
    runtime = current()
    body = json_body()
    ref = body.get("ref")
    if not isinstance(ref, str) or runtime.git(repo).resolve(ref) is None:
        raise ApiError(422, f"No ref found for: {ref}")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise validation_failed("Workflow", "inputs")
    dispatch = DispatchRecord(
        id=runtime.state.next_id("workflow_run"),
        repo=repo.full_name,
        workflow_id=workflow_id,
        ref=ref,
        actor=caller().label,
        created_at=utc_now(),
        inputs=inputs,
    )
    runtime.state.dispatches[dispatch.id] = dispatch
    if body.get("return_run_details"):
        api = links().repo(repo.full_name)
        return respond(
            {
                "workflow_run_id": dispatch.id,
                "run_url": f"{api}/actions/runs/{dispatch.id}",
                "html_url": links().html(f"{repo.full_name}/actions/runs/{dispatch.id}"),
            }
        )
    return no_content()
