"""Git over smart HTTP for every sandbox repository, at `{base_url}/{owner}/{repo}.git`, as GitHub.

Clones, fetches and pushes are handed to `git http-backend` (CGI) on the bare repository the
REST API writes to. Callers authenticate as on GitHub, with HTTP basic `x-access-token:<token>`
(an installation or personal token). Branch protection is enforced by a pre-receive hook
(`git_prereceive.py`) rather than by reading the pushed commands here: only inside receive-pack
are the pushed objects there to tell a fast-forward from a force push. The hook gets the rules
that apply to this caller in its environment, so it never calls back into the sandbox (whose
lock this request holds). Hooks and settings come from the environment (GIT_CONFIG_*), so
nothing is written into the repositories themselves.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.access import check_access
from guard.sandbox.auth import ANONYMOUS, Clock, Principal, authenticate
from guard.sandbox.errors import ApiError
from guard.sandbox.git_prereceive import PROTECTION_VARIABLE
from guard.sandbox.models import RepoRecord
from guard.sandbox.repo_ops import passing_contexts
from guard.sandbox.runtime import SandboxRuntime, caller, current
from guard.sandbox.state import SandboxState, utc_now

blueprint = Blueprint("sandbox_git_http", __name__)

GIT_PATH = re.compile(r"^/[^/]+/[^/]+\.git(/.*)?$")
SERVICES = ("git-upload-pack", "git-receive-pack")
HOOKS_DIR = "git-hooks"
# What GitHub answers a git client it will not serve; git shows the text to the user.
REPOSITORY_NOT_FOUND = "Repository not found."
PERMISSION_DENIED = "Permission to {repo}.git denied to {login}."
AUTHENTICATION_FAILED = "Invalid username or token. Password authentication is not supported."
CHALLENGE = {"WWW-Authenticate": 'Basic realm="GitHub"'}
# Git's settings for the CGI and what it runs, passed as GIT_CONFIG_* variables.
_BACKEND_SETTINGS = (
    ("http.receivepack", "true"),
    # GitHub serves any commit reachable from a ref, not only ref tips.
    ("uploadpack.allowReachableSHA1InWant", "true"),
    ("receive.denyDeleteCurrent", "refuse"),
)


def is_git_path(path: str) -> bool:
    """A request for git's smart HTTP protocol rather than the REST API."""
    return GIT_PATH.match(path) is not None


def git_principal(header: str | None, state: SandboxState, clock: Clock) -> Principal:
    """Who a git request comes from: basic auth with a token as the password (or user name)."""
    if not header:
        return ANONYMOUS
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return authenticate(header, state, clock)
    try:
        user, _, password = base64.b64decode(credential.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _unauthorized() from error
    # GitHub takes `x-access-token:<token>`, `<login>:<token>` or `<token>:x-oauth-basic`.
    token = user if password in {"", "x-oauth-basic"} else password
    try:
        return authenticate(f"token {token}", state, clock)
    except ApiError as error:
        raise _unauthorized() from error


def _unauthorized() -> ApiError:
    return ApiError(401, AUTHENTICATION_FAILED, headers=dict(CHALLENGE))


def _git_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def protection_rules(state: SandboxState, repo: RepoRecord, principal: Principal) -> dict[str, Any]:
    """The branch protection that applies to this caller, for the pre-receive hook."""
    is_admin = principal.login is not None and state.permission(repo, principal.login) == "admin"
    shas = {s.sha for s in state.commit_statuses.values() if s.repo == repo.full_name}
    shas |= {r.head_sha for r in state.check_runs.values() if r.repo == repo.full_name}
    rules: dict[str, Any] = {}
    for protection in state.protections.values():
        if protection.repo != repo.full_name:
            continue
        if is_admin and principal.kind == "user" and not protection.enforce_admins:
            continue
        passing: dict[str, list[str]] = {}
        if protection.required_status_checks:
            for sha in shas:
                contexts = passing_contexts(state, repo, sha)
                passing[sha] = [name for name, value in contexts.items() if value == "success"]
        rules[protection.branch] = {
            "require_pull_request": protection.require_pull_request,
            "required_status_checks": list(protection.required_status_checks),
            "allow_force_pushes": protection.allow_force_pushes,
            "allow_deletions": protection.allow_deletions,
            "passing": passing,
        }
    return rules


def hooks_dir(runtime: SandboxRuntime) -> Path:
    """A hooks directory holding the pre-receive wrapper, (re)written when it differs."""
    directory = runtime.data_dir / HOOKS_DIR
    script = Path(__file__).with_name("git_prereceive.py")
    # -I: the hook must not pick up modules beside it or the user's site-packages.
    wrapper = f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -I {shlex.quote(str(script))}\n"
    hook = directory / "pre-receive"
    if not hook.exists() or hook.read_text() != wrapper:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / ".pre-receive.tmp"
        temporary.write_text(wrapper)
        temporary.chmod(0o755)
        os.replace(temporary, hook)
    return directory


def _environment(runtime: SandboxRuntime, repo: RepoRecord, rest: str) -> dict[str, str]:
    git_dir = runtime.git(repo).path
    root = runtime.data_dir / "repos"
    settings = [*_BACKEND_SETTINGS, ("core.hooksPath", str(hooks_dir(runtime)))]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "HTTP_"))
    }
    environment.update(
        {
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{git_dir.relative_to(root).as_posix()}{rest}",
            "QUERY_STRING": request.query_string.decode(),
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.content_type or "",
            "REMOTE_USER": caller().login or "",
            "REMOTE_ADDR": request.remote_addr or "",
            "GIT_CONFIG_COUNT": str(len(settings)),
            "LC_ALL": "C",
        }
    )
    for index, (key, value) in enumerate(settings):
        environment[f"GIT_CONFIG_KEY_{index}"] = key
        environment[f"GIT_CONFIG_VALUE_{index}"] = value
    for header, variable in (
        ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
    ):
        if request.headers.get(header):
            environment[variable] = request.headers[header]
    return environment


def _cgi_response(output: bytes) -> Response:
    """A Flask response from CGI output: headers, a blank line, the body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = output.partition(separator)
        if found:
            break
    else:
        head, body = output, b""
    response = Response(body)
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            response.status = value.strip()
        elif name:
            response.headers[name.strip()] = value.strip()
    return response


def _refusal(repo: RepoRecord, write: bool) -> Response | None:
    """GitHub's answer to a git client that may not read (or push to) the repository."""
    principal = caller()
    try:
        check_access(principal, repo, current().state, "contents", write)
    except ApiError as error:
        if principal.kind == "anonymous" and error.status in {401, 404}:
            # Ask for credentials: git then tries its helper, as with a private repo on GitHub.
            return _git_error(401, AUTHENTICATION_FAILED, dict(CHALLENGE))
        if error.status == 404:
            return _git_error(404, REPOSITORY_NOT_FOUND)
        login = principal.login or "anonymous"
        return _git_error(403, PERMISSION_DENIED.format(repo=repo.full_name, login=login))
    return None


def _serve(owner: str, name: str, rest: str, service: str | None) -> Response:
    runtime = current()
    repo = runtime.state.repo(f"{owner}/{name}")
    if repo is None or service not in SERVICES:
        return _git_error(404, REPOSITORY_NOT_FOUND)
    write = service == "git-receive-pack"
    refused = _refusal(repo, write)
    if refused is not None:
        return refused
    environment = _environment(runtime, repo, rest)
    if write:
        rules = protection_rules(runtime.state, repo, caller())
        environment[PROTECTION_VARIABLE] = json.dumps(rules)
    body = request.get_data() if request.method == "POST" else b""
    environment["CONTENT_LENGTH"] = str(len(body))
    done = subprocess.run(
        ["git", "http-backend"], input=body, capture_output=True, env=environment, check=False
    )
    if done.returncode != 0 and not done.stdout:
        detail = done.stderr.decode(errors="replace").strip()
        raise ApiError(500, f"git http-backend failed: {detail}")
    if write and request.method == "POST":
        repo.pushed_at = utc_now()
    return _cgi_response(done.stdout)


@blueprint.get("/<owner>/<name>.git/info/refs")
def info_refs(owner: str, name: str) -> Response:
    return _serve(owner, name, "/info/refs", request.args.get("service"))


@blueprint.post("/<owner>/<name>.git/<service>")
def rpc(owner: str, name: str, service: str) -> Response:
    return _serve(owner, name, f"/{service}", service)
