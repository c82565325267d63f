"""The /_sandbox control API over HTTP: SandboxControl's operations, for other processes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.control import SandboxControl
from guard.sandbox.repo_ops import Author
from guard.sandbox.runtime import current, json_body, respond

blueprint = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


def _control() -> SandboxControl:
    return SandboxControl(current())


def _author(raw: Any) -> Author | None:
    if not isinstance(raw, dict):
        return None
    return Author(
        name=str(raw.get("name") or Author.name),
        email=str(raw.get("email") or Author.email),
        login=raw.get("login"),
    )


def _guarded(action: Callable[[], Response]) -> Response:
    """Control mistakes answer 404/422 with a message instead of a server error."""
    try:
        return action()
    except KeyError as error:
        return respond({"message": str(error.args[0] if error.args else error)}, 404)
    except (ValueError, TypeError) as error:
        return respond({"message": str(error)}, 422)


@blueprint.post("/repos")
def create_repo() -> Response:
    body = json_body()

    def act() -> Response:
        full_name = body.get("full_name") or f"{body.get('owner')}/{body.get('name')}"
        repo = _control().create_repo(
            str(full_name),
            body.get("files") or None,
            default_branch=str(body.get("default_branch") or "main"),
            private=bool(body.get("private", False)),
            description=body.get("description"),
            author=_author(body.get("author")),
        )
        head = _control().branch_sha(repo.full_name)
        return respond({**asdict(repo), "full_name": repo.full_name, "head_sha": head}, 201)

    return _guarded(act)


@blueprint.post("/repos/<owner>/<name>/commits")
def add_commit(owner: str, name: str) -> Response:
    body = json_body()

    def act() -> Response:
        sha = _control().commit(
            f"{owner}/{name}",
            body.get("files") or {},
            str(body.get("message") or "Change files"),
            branch=body.get("branch"),
            author=_author(body.get("author")),
            start_from=body.get("start_from"),
        )
        return respond({"sha": sha}, 201)

    return _guarded(act)


@blueprint.post("/repos/<owner>/<name>/tags")
def add_tag(owner: str, name: str) -> Response:
    body = json_body()
    return _guarded(
        lambda: respond(
            {"sha": _control().create_tag(f"{owner}/{name}", str(body["tag"]), str(body["ref"]))},
            201,
        )
    )


@blueprint.put("/repos/<owner>/<name>/branches/<path:branch>/protection")
def protect(owner: str, name: str, branch: str) -> Response:
    body = json_body()
    options = {
        key: body[key]
        for key in (
            "required_status_checks",
            "require_pull_request",
            "required_approving_review_count",
            "enforce_admins",
            "allow_force_pushes",
            "allow_deletions",
        )
        if key in body
    }
    return _guarded(
        lambda: respond(asdict(_control().protect_branch(f"{owner}/{name}", branch, **options)))
    )


@blueprint.delete("/repos/<owner>/<name>/branches/<path:branch>/protection")
def unprotect(owner: str, name: str, branch: str) -> Response:
    def act() -> Response:
        _control().unprotect_branch(f"{owner}/{name}", branch)
        return Response(status=204)

    return _guarded(act)


@blueprint.put("/repos/<owner>/<name>/collaborators/<login>")
def set_permission(owner: str, name: str, login: str) -> Response:
    permission = str(json_body().get("permission") or "write")

    def act() -> Response:
        _control().set_permission(f"{owner}/{name}", login, permission)
        return Response(status=204)

    return _guarded(act)


@blueprint.post("/repos/<owner>/<name>/environments")
def create_environment(owner: str, name: str) -> Response:
    body = json_body()
    return _guarded(
        lambda: respond(
            asdict(_control().create_environment(f"{owner}/{name}", str(body["name"]))), 201
        )
    )


@blueprint.post("/apps")
def register_app() -> Response:
    body = json_body()

    def act() -> Response:
        credentials = _control().register_app(
            str(body.get("name") or "deploy-guard"),
            slug=body.get("slug"),
            permissions=body.get("permissions"),
            events=body.get("events"),
        )
        return respond(asdict(credentials), 201)

    return _guarded(act)


@blueprint.post("/apps/<int:app_id>/installations")
def install_app(app_id: int) -> Response:
    body = json_body()
    return _guarded(
        lambda: respond(
            {
                "installation_id": _control().install_app(
                    app_id, str(body["account"]), body.get("repositories"), body.get("permissions")
                )
            },
            201,
        )
    )


@blueprint.post("/users")
def add_user() -> Response:
    body = json_body()
    return _guarded(
        lambda: respond(
            asdict(
                _control().add_user(
                    str(body["login"]),
                    name=body.get("name"),
                    email=body.get("email"),
                    emails=body.get("emails") or (),
                )
            ),
            201,
        )
    )


@blueprint.post("/tokens")
def register_token() -> Response:
    body = json_body()
    return _guarded(
        lambda: respond(
            {"token": _control().register_token(str(body["login"]), body.get("token"))}, 201
        )
    )


@blueprint.get("/state")
def read_state() -> Response:
    return respond(_control().snapshot())


@blueprint.get("/calls")
def read_calls() -> Response:
    since = int(request.args.get("since", 0))
    calls = current().calls
    return respond(
        {
            "calls": [record.as_dict() for record in calls.all(since)],
            "counts": calls.counts(since),
            "last_seq": calls.last_seq,
        }
    )


@blueprint.delete("/calls")
def clear_calls() -> Response:
    current().calls.clear()
    return Response(status=204)


@blueprint.get("/faults")
def list_faults() -> Response:
    return respond({"faults": [fault.as_dict() for fault in current().faults.list()]})


@blueprint.post("/faults")
def add_fault() -> Response:
    body = dict(json_body())
    kind = body.pop("kind", None)
    return _guarded(lambda: respond(_control().add_fault(str(kind), **body).as_dict(), 201))


@blueprint.post("/faults/release")
def release_faults() -> Response:
    fault_id = json_body().get("id")
    return respond({"released": _control().release_held(fault_id)})


@blueprint.delete("/faults")
def clear_faults() -> Response:
    _control().clear_faults()
    return Response(status=204)


@blueprint.get("/violations")
def read_violations() -> Response:
    runtime = current()
    return respond(
        {
            "strict": runtime.checker is not None,
            "violations": [v.as_dict() for v in runtime.violations.all()],
            "crashes": list(runtime.crashes),
        }
    )


@blueprint.delete("/violations")
def clear_violations() -> Response:
    current().violations.clear()
    current().crashes.clear()
    return Response(status=204)


@blueprint.post("/clock")
def advance_clock() -> Response:
    seconds = float(json_body().get("advance", 0))
    _control().advance_clock(seconds)
    return respond({"offset": current().clock.offset})


@blueprint.post("/save")
def save() -> Response:
    current().save()
    return respond({"data_dir": str(current().data_dir)})
